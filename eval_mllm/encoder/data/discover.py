"""Find a benchmark's data under a directory: the directory itself or one level below.

A world export root (``mmvp_vlm/``, ``classification/``, ``retrieval/``, ``attribute_probe/``) and a folder that
*is* one benchmark both work; conventional sub-folder names are tried before the others.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from openeyes.eval_mllm.encoder.data.attribute_probe import is_attribute_probe_dir
from openeyes.eval_mllm.encoder.data.classification import is_classification_dir
from openeyes.eval_mllm.encoder.data.mmvp_vlm import is_mmvp_vlm_dir
from openeyes.eval_mllm.encoder.data.naturalbench import is_naturalbench_retrieval_dir
from openeyes.eval_mllm.encoder.data.retrieval import is_retrieval_dir

# data kind -> (test for a folder given the split, preferred sub-folder names)
DATA_KINDS: dict[str, tuple[Callable[[Path, str], bool], tuple[str, ...]]] = {
    "mmvp_vlm": (lambda path, split: is_mmvp_vlm_dir(path), ("mmvp_vlm", "MMVP_VLM")),
    "classification": (is_classification_dir, ("classification",)),
    "retrieval": (is_retrieval_dir, ("retrieval", "flickr30k", "mscoco_captions")),
    "naturalbench_retrieval": (
        lambda path, split: is_naturalbench_retrieval_dir(path),
        ("naturalbench_retrieval", "NaturalBench-Retrieval"),
    ),
    "attribute_probe": (is_attribute_probe_dir, ("attribute_probe",)),
}


def candidate_dirs(root: Path, preferred: tuple[str, ...]) -> list[Path]:
    children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    first = [root / name for name in preferred if (root / name).is_dir()]
    return [root] + first + [c for c in children if c not in first]


def find_data(kind: str, root: str | Path, split: str = "test") -> Path | None:
    """The folder under ``root`` (depth <= 1) holding data of ``kind``, or None."""
    test, preferred = DATA_KINDS[kind]
    root = Path(root)
    for folder in candidate_dirs(root, preferred):
        if test(folder, split):
            return folder
    return None
