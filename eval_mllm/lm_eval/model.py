"""``openeyes`` as an lm-evaluation-harness model: an openeyes ``MLLM`` answering ``generate_until``.

Registered with ``lm_eval.api.registry.register_model("openeyes")`` on import. Multimodal
(``MULTIMODAL = True``): every request is ``(context, gen_kwargs, {"visual": [PIL images]})``;
the images go before the text unless the context holds ``<image>`` markers (one per image).
``gen_kwargs`` map to the protocol's sampling: ``until`` -> stop strings, ``max_gen_toks`` ->
``max_new_tokens``, ``do_sample``/``temperature``/``top_p``. Requests with the same settings are
batched; greedy outputs do not depend on batching, so they equal ``openeyes eval mllm``'s.

``simple_evaluate(model="openeyes", model_args="pretrained=DIR_OR_URL,batch_size=8")`` or
``simple_evaluate(model=OpenEyesLM(mllm=...))``. Loglikelihood requests (multiple-choice tasks)
are refused with a ``UserError``: the benchmarks here are all generative.
"""
from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from openeyes.errors import UserError

LOGLIKELIHOOD_REFUSAL = ("the openeyes lm-eval model answers only generate_until requests (all openeyes_* tasks "
                         "are generative); task {task} asked for {kind}")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def sampling_from_gen_kwargs(gen_kwargs: dict[str, Any], default_max: int, cap: int | None) -> dict[str, Any]:
    """lm-eval ``generation_kwargs`` -> ``MLLM.generate`` keyword arguments."""
    kwargs = dict(gen_kwargs or {})
    stop = [s for s in _as_list(kwargs.pop("until", None)) if isinstance(s, str) and s]
    budget = int(kwargs.pop("max_gen_toks", kwargs.pop("max_new_tokens", default_max)))
    if cap is not None:
        budget = min(budget, cap)
    temperature = float(kwargs.pop("temperature", 0.0) or 0.0)
    sampled = bool(kwargs.pop("do_sample", temperature > 0)) and temperature > 0
    top_p = float(kwargs.pop("top_p", 1.0) or 1.0)
    seed = kwargs.pop("seed", None)
    return {"max_new_tokens": budget, "temperature": temperature if sampled else 0.0,
            "top_p": top_p if sampled else 1.0, "stop": stop, "seed": None if seed is None else int(seed)}


@register_model("openeyes")
class OpenEyesLM(LM):
    """lm-eval ``LM`` over an openeyes ``MLLM`` (generate_until with images)."""

    MULTIMODAL = True

    def __init__(self, pretrained: str | None = None, *, mllm: Any = None, batch_size: int | str | None = 8,
                 device: str | None = "auto", model_name: str | None = None, api_key: str | None = None,
                 max_new_tokens: int | str | None = None, max_gen_toks: int | str = 256, **unused: Any):
        super().__init__()
        self.batch_size = int(batch_size) if batch_size not in (None, "", "auto") else 8  # requests per generate call
        self.max_new_tokens = int(max_new_tokens) if max_new_tokens not in (None, "") else None  # cap on every task's budget
        self.default_max = int(max_gen_toks)  # budget when a task gives none
        if mllm is None:
            if not pretrained:
                raise UserError("the openeyes lm-eval model needs pretrained=DIR_OR_URL (or an mllm object)")
            from openeyes.eval_mllm.mllm.backends import load_mllm_for_eval

            mllm = load_mllm_for_eval(str(pretrained), batch_size=self.batch_size, device=device or "auto",
                                      model_name=model_name, api_key=api_key)
        self.mllm = mllm
        self.spec = pretrained

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.mllm, "name", "openeyes"))

    # -- requests ------------------------------------------------------------------------------
    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list:
        raise UserError(LOGLIKELIHOOD_REFUSAL.format(task=_task_of(requests), kind="loglikelihood"))

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list:
        raise UserError(LOGLIKELIHOOD_REFUSAL.format(task=_task_of(requests), kind="loglikelihood_rolling"))

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        from tqdm.auto import tqdm

        answers: list[str | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        settings: dict[tuple, dict[str, Any]] = {}
        for index, request in enumerate(requests):
            sampling = sampling_from_gen_kwargs(request.args[1], self.default_max, self.max_new_tokens)
            key = (sampling["max_new_tokens"], sampling["temperature"], sampling["top_p"], tuple(sampling["stop"]),
                   sampling["seed"])
            groups.setdefault(key, []).append(index)
            settings[key] = sampling
        bar = tqdm(total=len(requests), desc="openeyes generate_until", disable=disable_tqdm or self.rank != 0)
        for key, indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                batch = [self._mllm_request(requests[i].args) for i in chunk]
                outputs = self.mllm.generate(batch, **settings[key])
                for i, text in zip(chunk, outputs):
                    answers[i] = text
                    self.cache_hook.add_partial("generate_until", requests[i].args[:2], text)
                bar.update(len(chunk))
        bar.close()
        return [text or "" for text in answers]

    @staticmethod
    def _mllm_request(args: tuple) -> tuple[list[Any], str]:
        """(images, context) for ``MLLM.generate`` (as_request puts images first, or at ``<image>``)."""
        context = args[0]
        visual = args[2].get("visual") if len(args) > 2 and isinstance(args[2], dict) else None
        return _as_list(visual), context


def _task_of(requests: list) -> str:
    return str(getattr(requests[0], "task_name", "?")) if requests else "?"
