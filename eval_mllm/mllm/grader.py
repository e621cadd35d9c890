"""MMVP's ``original`` protocol graded by an LLM judge, as tsb0601/MMVP scripts/gpt_grader.py does.

The reference asks ``gpt-4-0314`` (T = 0.2) with its fixed system and user prompts
(``mmvp.grader_messages``) whether each answer is right, and counts a reply as "yes" only when
it is exactly yes/no and yes (``mmvp.read_grade``). Here the judge is any OpenAI-compatible
``/v1/chat/completions`` endpoint (OpenAI itself, vLLM, a local server); its replies are cached
on disk (JSONL, one line per judgment, keyed by judge model, temperature and the exact messages),
so a re-run or a crashed run asks again only what it has not asked yet.

Without ``--grader`` the offline default stays ``mmvp.ExactMatchGrader`` (an exact-match
stand-in for the judge), and results say which grader gave the numbers.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.mmvp import GRADER_MODEL, GRADER_TEMPERATURE, ExactMatchGrader, grader_messages

CACHE_FILE = "grader_judgments.jsonl"  # default cache name inside a results folder
EXACT_MATCH = {"kind": "exact-match", "note": "offline stand-in for the reference's GPT grader"}


@dataclass
class GraderConfig:
    """Which judge grades MMVP ``original`` and where its judgments are kept."""

    url: str                                  # OpenAI-compatible endpoint of the judge (http(s)://HOST:PORT or .../v1)
    model: str = GRADER_MODEL                 # judge model name sent in each request (reference: gpt-4-0314)
    api_key_env: str = "OPENAI_API_KEY"       # environment variable holding the judge's bearer key (unset: none sent)
    cache: Path | None = None                 # JSONL of judgments (None: the caller's default)
    temperature: float = GRADER_TEMPERATURE   # the reference grades at T = 0.2

    def check(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise UserError(f"--grader must be an http(s):// OpenAI-compatible endpoint, got {self.url!r}")
        if not self.model:
            raise UserError("--grader-model must not be empty")


class JudgmentCache:
    """Judge replies by request key, read from and appended to a JSONL file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.replies: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self.replies[record["key"]] = record["reply"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line from an interrupted run: asked again
        elif self.path.exists():
            raise UserError(f"grader cache {self.path} is not a file")

    def get(self, key: str) -> str | None:
        return self.replies.get(key)

    def put(self, key: str, reply: str, request: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "reply": reply, "request": request}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.replies[key] = reply


def request_key(endpoint: str, body: dict[str, Any]) -> str:
    """Stable key of one judge request (endpoint, model, temperature, messages)."""
    text = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EndpointGrader:
    """A ``mmvp.Grader`` asking an OpenAI-compatible judge, through a ``JudgmentCache``."""

    def __init__(self, config: GraderConfig, cache_path: Path):
        from openeyes.mllm.openai_backend import OpenAIChatMLLM

        config.check()
        self.config = config
        self.cache = JudgmentCache(cache_path)
        self.client = OpenAIChatMLLM(config.url, model=config.model, api_key=os.environ.get(config.api_key_env))
        self.asked = 0      # judge calls made in this run
        self.reused = 0     # judgments taken from the cache

    def __call__(self, question: str, correct_answer: str, model_response: str) -> str:
        # the reference sends no max_tokens: the judge's own default applies
        body = {"model": self.config.model, "temperature": self.config.temperature,
                "messages": grader_messages(question, correct_answer, model_response)}
        key = request_key(self.client.root, body)
        cached = self.cache.get(key)
        if cached is not None:
            self.reused += 1
            return cached
        reply = self.client.complete(body)
        self.asked += 1
        self.cache.put(key, reply, body)
        return reply

    def describe(self) -> dict[str, Any]:
        return {"kind": "llm", "url": self.client.root, "model": self.config.model,
                "temperature": self.config.temperature, "cache": str(self.cache.path),
                "asked": self.asked, "reused": self.reused}

    def close(self) -> None:
        self.client.close()


def build_grader(config: GraderConfig | None, default_cache: Path) -> EndpointGrader | None:
    """The judge for ``config`` (its cache at ``config.cache`` or ``default_cache``), None offline."""
    if config is None:
        return None
    return EndpointGrader(config, Path(config.cache) if config.cache else Path(default_cache))


def describe(grader: Any) -> dict[str, Any]:
    """What graded the numbers, for the results record."""
    if hasattr(grader, "describe"):
        return grader.describe()
    if grader is None or isinstance(grader, ExactMatchGrader):
        return dict(EXACT_MATCH)
    return {"kind": "custom", "grader": type(grader).__name__}
