"""Options of an encoder evaluation run (one typed dataclass; unknown names are refused)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from openeyes.errors import UserError


@dataclass
class EncoderEvalOptions:
    """Every knob that can change an encoder benchmark's numbers."""

    batch_size: int = 64                       # images or texts per forward pass
    seed: int = 0                              # KMeans / PCA random_state (clustering)
    split: str = "test"                        # split folder / Karpathy annotation split
    recall_k: tuple[int, ...] = (1, 5, 10)     # retrieval: the k of recall@k
    zscore: bool = False                       # clustering: z-score after L2 normalisation
    pca_dim: int | None = None                 # clustering: PCA components (None: no PCA)
    exclude_self: bool = True                  # affinity: leave the query out of its own row
    affinity_caption: str = "first"            # affinity: "first" caption per image, or "mean" embedding
    probe_layer: int | None = None             # linear probe: None = image embeddings; N = mean patch token of layer N;
                                               # attribute probe: the layer whose patch tokens it flattens (None = -1)
    probe_c: float = 1.0                       # linear and attribute probes: inverse L2 strength
    probe_folds: int = 5                       # linear probe: k-fold CV when there is no "train" split

    def check(self) -> "EncoderEvalOptions":
        if self.batch_size < 1:
            raise UserError(f"batch size must be >= 1, got {self.batch_size}")
        if not self.recall_k or any(k < 1 for k in self.recall_k):
            raise UserError(f"recall_k must be positive integers, got {self.recall_k}")
        if self.pca_dim is not None and self.pca_dim < 1:
            raise UserError(f"pca_dim must be >= 1, got {self.pca_dim}")
        if self.affinity_caption not in ("first", "mean"):
            raise UserError(f"affinity_caption must be 'first' or 'mean', got {self.affinity_caption!r}")
        if self.probe_c <= 0 or self.probe_folds < 2:
            raise UserError(f"probe_c must be > 0 and probe_folds >= 2, got {self.probe_c}, {self.probe_folds}")
        self.recall_k = tuple(int(k) for k in self.recall_k)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_options(**overrides: Any) -> EncoderEvalOptions:
    """Options from keyword overrides (None keeps the default); a misspelt name is a UserError."""
    known = {f.name for f in fields(EncoderEvalOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserError(f"unknown encoder-eval option(s) {unknown}; valid: {sorted(known)}")
    return EncoderEvalOptions(**{k: v for k, v in overrides.items() if v is not None}).check()
