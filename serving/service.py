"""The BentoML service: ``bentoml serve openeyes.serving.service:OpenEyes``.

The whole HTTP API (``serving.api``, plus the Gradio UI at ``/ui``) is one FastAPI app
mounted with ``bentoml.asgi_app``; the service instance loads the models into it
(``Runtime.load``) in each worker. BentoML's own ``/livez``, ``/readyz`` (which calls
``__is_ready__``: a real forward pass of each model) serve health; ``/metrics`` is the app's own
(``openeyes_*`` metrics labelled by route template, summed over the workers through BentoML's
Prometheus multiprocess folder; BentoML's HTTP metrics are off because they label raw paths, so
random 404 paths would grow them without bound). Configuration comes from the
``OPENEYES_SERVE_*`` environment variables (``serving.settings``), which ``openeyes serve`` sets.
"""
from __future__ import annotations

import logging
import os
import time

import bentoml

import openeyes  # noqa: F401  (CPU-torchvision fix before transformers' image processors)
from openeyes.serving.api import AppState, build_app
from openeyes.serving.settings import config_from_env, workers_from_env
from openeyes.serving.stores import require_shared

log = logging.getLogger("openeyes.serving")
CONFIG = config_from_env()
require_shared(CONFIG.index_dir, workers_from_env())  # several workers never hold private copies of the index
STATE = AppState()


def tracing_config() -> dict:
    """BentoML traces every request with OpenTelemetry; with no exporter configured (no
    ``BENTOML_CONFIG`` file) the spans go nowhere yet cost the event loop, so every URL is excluded."""
    return {} if os.environ.get("BENTOML_CONFIG") else {"excluded_urls": ".*"}


api_app = build_app(STATE, api_key=CONFIG.api_key, max_body_bytes=CONFIG.limits.max_body_bytes)
if CONFIG.ui:
    from openeyes.serving.ui import mount_ui

    mount_ui(api_app, STATE, CONFIG)


@bentoml.service(name="openeyes", workers=workers_from_env(),
                 traffic={"timeout": int(CONFIG.limits.request_timeout_s) + 10},
                 metrics={"enabled": False},  # BentoML's would label every raw path; the app's own /metrics labels routes
                 logging={"access": {"enabled": CONFIG.access_log}},  # a log line per request: a fifth of the loop's time on small requests
                 tracing=tracing_config())
@bentoml.asgi_app(api_app, path="/")
class OpenEyes:
    """Embeddings, zero-shot, retrieval, VQA and OpenAI-compatible routes over the openeyes runtimes."""

    def __init__(self) -> None:
        from openeyes.serving.runtime import Runtime

        STATE.runtime = Runtime.load(CONFIG)
        self._ready_at = 0.0
        self._models: dict[str, str] = {}  # the last model probe

    def __is_ready__(self) -> bool:
        if STATE.runtime is None:
            return False
        if time.time() - self._ready_at > 2.0:  # the models at most every 2 s
            self._models = STATE.runtime.probe_models()
            self._ready_at = time.time()
        report = {**self._models, **STATE.runtime.probe_index()}  # the index every time: a database can go away
        ready = not any(v.startswith("failed") for v in report.values())
        if not ready:
            log.error("readiness probe failed: %s", report)
        return ready


if CONFIG.api_key:  # BentoML's own pages (/, /docs.json, /schema.json) follow the app's key rule too
    from openeyes.serving.middleware import KeyMiddleware

    OpenEyes.add_asgi_middleware(KeyMiddleware, api_key=CONFIG.api_key)
