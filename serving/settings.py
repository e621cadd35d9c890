"""``ServeConfig`` <-> environment variables, so ``bentoml serve`` (which imports the service
module in fresh worker processes) sees what ``openeyes serve`` was asked for.

Variables: ``OPENEYES_SERVE_ENCODER``, ``OPENEYES_SERVE_MLLM``, ``OPENEYES_SERVE_INDEX``,
``OPENEYES_SERVE_API_KEY``, ``OPENEYES_SERVE_MLLM_API_KEY`` (bearer key for a remote MLLM engine), ``OPENEYES_SERVE_UI`` (1/0), ``OPENEYES_SERVE_COMPARE``
(comma-separated encoder specs the UI's compare view may load; ``auto`` when unset, ``none``), ``OPENEYES_SERVE_ALLOW_HOSTS`` (comma-separated image URL
hosts), ``OPENEYES_SERVE_WORKERS``, ``OPENEYES_SERVE_THREADS`` (torch threads), ``OPENEYES_SERVE_ENGINE`` (encoder engine:
``torch`` when unset, or ``onnx-int8``), ``OPENEYES_SERVE_ACCESS_LOG`` (1: a log line per request).
"""
from __future__ import annotations

import os
from typing import Mapping

from openeyes.serving.runtime import AUTO, DEFAULT_ENCODER, ServeConfig

PREFIX = "OPENEYES_SERVE_"


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def config_from_env(env: Mapping[str, str] | None = None) -> ServeConfig:
    env = os.environ if env is None else env
    config = ServeConfig(
        encoder=env.get(PREFIX + "ENCODER") or DEFAULT_ENCODER,
        mllm=env.get(PREFIX + "MLLM") or AUTO,
        index_dir=env.get(PREFIX + "INDEX") or None,
        api_key=env.get(PREFIX + "API_KEY") or None,
        mllm_api_key=env.get(PREFIX + "MLLM_API_KEY") or None,
        compare_encoders=_split(env.get(PREFIX + "COMPARE")) or ["auto"],
        ui=env.get(PREFIX + "UI", "1") not in ("0", "false", "no"),
        torch_threads=int(env[PREFIX + "THREADS"]) if env.get(PREFIX + "THREADS") else None,
        engine=(env.get(PREFIX + "ENGINE") or "torch").strip().lower(),
        access_log=env.get(PREFIX + "ACCESS_LOG", "0") in ("1", "true", "yes"),
    )
    config.limits.url_allow_hosts = _split(env.get(PREFIX + "ALLOW_HOSTS"))
    return config


def config_to_env(config: ServeConfig, workers: int = 1) -> dict[str, str]:
    env = {
        PREFIX + "ENCODER": config.encoder,
        PREFIX + "MLLM": config.mllm or "none",
        PREFIX + "INDEX": config.index_dir or "",
        PREFIX + "API_KEY": config.api_key or "",
        PREFIX + "MLLM_API_KEY": config.mllm_api_key or "",
        PREFIX + "UI": "1" if config.ui else "0",
        PREFIX + "COMPARE": ",".join(config.compare_encoders),
        PREFIX + "ALLOW_HOSTS": ",".join(config.limits.url_allow_hosts),
        PREFIX + "WORKERS": str(workers),
        PREFIX + "ENGINE": config.engine,
        PREFIX + "ACCESS_LOG": "1" if config.access_log else "0",
    }
    if config.torch_threads:
        env[PREFIX + "THREADS"] = str(config.torch_threads)
    return env


def workers_from_env(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return max(1, int(env.get(PREFIX + "WORKERS") or 1))
