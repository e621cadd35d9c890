"""The same API without BentoML: a FastAPI app for uvicorn (tests, debugging, small setups).

``create_app(config)`` loads the models in a background thread at startup, so ``/livez``
answers at once and ``/readyz`` turns 200 once the models are loaded and probed.
``python -m openeyes.serving.standalone --port N`` reads the ``OPENEYES_SERVE_*`` variables.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from fastapi import FastAPI

from openeyes.serving.api import AppState, build_app
from openeyes.serving.runtime import Runtime, ServeConfig

log = logging.getLogger("openeyes.serving")


def create_app(config: ServeConfig) -> FastAPI:
    state = AppState()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(load(state, config))
        yield
        task.cancel()
        if state.runtime is not None:
            state.runtime.close()

    app = build_app(state, api_key=config.api_key, max_body_bytes=config.limits.max_body_bytes)
    app.router.lifespan_context = lifespan
    if config.ui:
        from openeyes.serving.ui import mount_ui

        mount_ui(app, state, config)
    return app


async def load(state: AppState, config: ServeConfig) -> None:
    try:
        state.runtime = await asyncio.to_thread(Runtime.load, config)
    except Exception as problem:  # /readyz reports it; /livez stays up
        log.exception("loading the models failed")
        state.load_error = str(problem)


def main() -> None:
    import uvicorn

    from openeyes.serving.settings import config_from_env

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    config = config_from_env()
    uvicorn.run(create_app(config), host=args.host, port=args.port, access_log=config.access_log,
                log_level="info" if config.access_log else "warning")


if __name__ == "__main__":
    main()
