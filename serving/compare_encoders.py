"""The encoders the UI's compare view may use: only those the operator named at start, loaded on
first use into a bounded cache.

A visitor picks an encoder by its *label* (``zoo:tiny-dcr``, or a local folder's base name), never
by a spec: nothing a visitor sends is resolved as a path, a hub id or an architecture, so the view
cannot load arbitrary models, fill memory, or tell whether a file exists. ``--compare-encoders``
(``OPENEYES_SERVE_COMPARE``) is a comma-separated list; ``auto`` (the default) offers
``zoo:tiny-clip``, ``zoo:world-dcr`` (DCR on zoo:world-prior) and ``zoo:tiny-dcr`` where built, so the
view opens on the base against the strongest DCR encoder; ``none`` offers only the served encoder.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from openeyes.serving.errors import ApiError

log = logging.getLogger("openeyes.serving")
AUTO = "auto"
DEFAULT_COMPARE = ("zoo:tiny-clip", "zoo:world-dcr", "zoo:tiny-dcr")  # base vs the DCR encoder (issue 19.6): world-dcr once built
DEFAULT_CACHE_SIZE = 2  # compare encoders held in memory at once besides the served one


def expand_specs(specs: list[str]) -> list[str]:
    """``auto`` -> the built entries of ``DEFAULT_COMPARE``; ``none`` -> nothing; other specs as given."""
    from openeyes.zoo_registry import entries

    expanded: list[str] = []
    for spec in specs:
        if spec.lower() == "none":
            continue
        if spec.lower() == AUTO:
            zoo = entries()
            expanded += [s for s in DEFAULT_COMPARE if (e := zoo.get(s.split(":", 1)[1])) is not None and e.built]
        else:
            expanded.append(spec)
    return list(dict.fromkeys(expanded))


def display_label(spec: str) -> str:
    """What the UI shows for a spec: zoo and hub names as typed, local paths by their base name only."""
    if spec.startswith("open_clip:") and "@" in spec:
        arch, _, weights = spec.partition("@")
        return f"{arch}@{Path(weights).name}"
    if Path(spec).expanduser().exists() or spec.startswith(("/", "~", ".")):
        return Path(spec).expanduser().name or spec
    return spec


class CompareEncoders:
    """Label -> spec for the offered encoders, and an LRU cache of the loaded ones.

    ``served`` is the server's own encoder spec (always offered, never reloaded); ``get_served``
    returns its loaded runtime; ``load(spec)`` builds another (``EncoderRuntime``)."""

    def __init__(self, served: str, specs: list[str], get_served: Callable[[], Any], load: Callable[[str], Any],
                 cache_size: int = DEFAULT_CACHE_SIZE):
        offered = expand_specs(specs)
        self.served = served
        self.specs: dict[str, str] = {}  # label -> spec, in the operator's order
        self.listed: list[str] = []  # labels of the operator's list, in order
        for spec in offered + ([] if served in offered else [served]):
            label = display_label(spec)
            while label in self.specs:
                label += "'"
            self.specs[label] = spec
            if spec in offered:
                self.listed.append(label)
        self._get_served = get_served
        self._load = load
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[str, Any] = OrderedDict()  # spec -> runtime, most recent last
        self._lock = threading.Lock()

    @property
    def labels(self) -> list[str]:
        return list(self.specs)

    def defaults(self) -> tuple[str, str]:
        """(base, enhanced) the view opens on: the operator's first two, else the served encoder vs the one listed."""
        served = next(label for label, spec in self.specs.items() if spec == self.served)
        if len(self.listed) >= 2:
            return self.listed[0], self.listed[1]
        return served, (self.listed[0] if self.listed else served)

    def get(self, label: Any, param: str = "encoder") -> Any:
        """The loaded encoder for an offered label; 400 (naming only the offered labels) for anything else."""
        spec = self.specs.get(label) if isinstance(label, str) else None
        if spec is None:
            raise ApiError(400, f"'{param}' must be one of the encoders this server offers: {', '.join(self.labels)}", param=param)
        if spec == self.served:
            return self._get_served()
        with self._lock:  # one load at a time: two visitors never load the same model twice
            if spec in self._cache:
                self._cache.move_to_end(spec)
                return self._cache[spec]
            while len(self._cache) >= self.cache_size:
                self._cache.popitem(last=False)
            try:
                runtime = self._load(spec)
            except Exception:
                log.exception("compare encoder %s failed to load", spec)
                raise ApiError(503, f"the encoder {label!r} could not be loaded on this server (see its log)") from None
            self._cache[spec] = runtime
            return runtime

    @property
    def loaded(self) -> list[str]:
        """Specs currently held in the cache (least recently used first)."""
        return list(self._cache)
