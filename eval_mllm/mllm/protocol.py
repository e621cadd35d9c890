"""What a benchmark protocol is: the prompt, the generation settings and the answer parser of
one reference implementation, as plain data.

Every benchmark module keeps a ``PROTOCOLS`` dict (name -> ``Protocol``); numbers reported by
``score`` always carry the protocol name they followed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from openeyes.errors import UserError


@dataclass(frozen=True)
class GenerationSettings:
    """How the reference decodes; ``as_kwargs`` gives transformers ``generate`` keyword args."""

    do_sample: bool                      # False: greedy decoding
    max_new_tokens: int                  # the reference's generation budget
    temperature: float | None = None     # sampling temperature (None when greedy)
    top_p: float | None = None           # nucleus sampling (None: the library default)
    conversation: str | None = None      # chat template the reference wraps the prompt in

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"do_sample": self.do_sample, "max_new_tokens": self.max_new_tokens}
        if self.do_sample and self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.do_sample and self.top_p is not None:
            kwargs["top_p"] = self.top_p
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GREEDY_16 = GenerationSettings(do_sample=False, max_new_tokens=16)
GREEDY_128 = GenerationSettings(do_sample=False, max_new_tokens=128)
GREEDY_512 = GenerationSettings(do_sample=False, max_new_tokens=512)
GREEDY_1024 = GenerationSettings(do_sample=False, max_new_tokens=1024)


@dataclass(frozen=True)
class Protocol:
    """One reference procedure of one benchmark."""

    name: str                                  # e.g. "lmms-eval"
    source: str                                # repository@commit path(s) it reproduces
    generation: GenerationSettings
    prompt: Callable[[Any], str]               # item -> prompt text (no image token)
    parse: Callable[[str, Any], Any]           # (raw model output, item) -> parsed answer
    headline: str                              # metric to quote first


def pick_protocol(protocols: dict[str, Protocol], name: str | None, default: str, bench: str) -> Protocol:
    """The protocol called ``name`` (``default`` when None), or a UserError listing the known ones."""
    chosen = default if name is None else name
    if chosen not in protocols:
        raise UserError(f"unknown protocol {chosen!r} for {bench}; choose one of: {', '.join(protocols)}")
    return protocols[chosen]


def prompt_request(protocol: Protocol, item: Any) -> tuple[str, list, dict[str, Any]]:
    """(prompt text, image paths, generation kwargs) for one item under ``protocol``."""
    return protocol.prompt(item), list(item.images), protocol.generation.as_kwargs()


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is 0 (an undefined number)."""
    return numerator / denominator if denominator else None
