"""``openeyes serve``: start the service (BentoML by default, or plain uvicorn with --standalone).

A single-command typer app, so the root's ``serve`` entry runs it directly:
``openeyes serve [--encoder ENC] [--mllm DIR|URL] [--index DIR|URL] [--host H] [--port P] [--api-key K] [--workers N]
[--engine torch|onnx-int8]``.
Options are handed to the service's worker processes as ``OPENEYES_SERVE_*`` variables.
``serving.index_plan`` decides the index store; when it is a local Postgres this process starts
it, runs the server as its child (forwarding signals) and stops it after; otherwise it execs.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from openeyes.errors import UserError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Serve embeddings, zero-shot, retrieval, VQA, OpenAI routes and the UI at /ui.")


def check_port_free(host: str, port: int) -> None:
    """Bind ``host:port`` once (as the server will, with SO_REUSEADDR) so a busy port is one line, not a traceback."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as problem:
        raise UserError(f"--host {host!r} cannot be resolved: {problem.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as problem:
            raise UserError(f"cannot listen on {host}:{port}: {problem.strerror or problem} (is another server running there? "
                            f"choose another --port)") from None


@app.command()
def serve(
    encoder: str = typer.Option("zoo:tiny-clip", help="encoder spec: zoo:NAME, artifact dir, HF dir/id or open_clip:..."),
    mllm: str = typer.Option("auto", help="MLLM dir or zoo:NAME; or http(s)://HOST:PORT of an OpenAI-compatible engine "
                                          "(vllm serve, another openeyes serve) to proxy VQA/chat to; "
                                          "'auto' = zoo:tiny-llava when built; 'none' disables VQA"),
    mllm_api_key: Optional[str] = typer.Option(None, envvar="OPENEYES_SERVE_MLLM_API_KEY",
                                               help="bearer key sent to the --mllm engine when it is a URL"),
    index: Optional[str] = typer.Option(None, help="retrieval index: a folder (FAISS, one process; a new folder with "
                                                   "--workers > 1 gets a local Postgres) or postgresql://USER@HOST/DB "
                                                   "(shared by workers and replicas); in memory when omitted, a temporary "
                                                   "local Postgres with --workers > 1"),
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(3000, help="port to bind"),
    api_key: Optional[str] = typer.Option(None, envvar="OPENEYES_SERVE_API_KEY", help="require 'Authorization: Bearer KEY'"),
    workers: int = typer.Option(1, min=1, help="BentoML worker processes (each loads its own model copy; "
                                               "ignored with --standalone; they share one index in Postgres)"),
    ui: Optional[bool] = typer.Option(None, "--ui/--no-ui", help="mount the Gradio UI at /ui (default: on unless --api-key)"),
    compare_encoders: list[str] = typer.Option(
        [], "--compare-encoders", "--compare",
        help="the only encoders the UI's compare view may load, comma-separated (repeatable); 'auto' (default): "
             "zoo:tiny-clip,zoo:tiny-dcr where built; 'none': only --encoder. The view opens on the first two"),
    allow_host: list[str] = typer.Option([], help="host whose image URLs may be fetched (repeatable)"),
    threads: Optional[int] = typer.Option(None, min=1, help="torch threads per worker"),
    engine: str = typer.Option("torch", "--engine", envvar="OPENEYES_SERVE_ENGINE",
                               help="encoder engine: torch, or onnx-int8 (int8 onnxruntime towers on the CPU, built and "
                                    "checked against torch here before the server starts; cached beside the encoder)"),
    standalone: bool = typer.Option(False, help="run the same app with uvicorn, without BentoML"),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="log a line per request (off by default: it costs throughput on small requests)"),
) -> None:
    from openeyes.serving.index_plan import plan_index, start_local, stop_local
    from openeyes.serving.runtime import ServeConfig, resolve_mllm_spec
    from openeyes.zoo_registry import resolve

    resolve(encoder)  # an unbuilt zoo model or unknown name fails here, before any process starts
    resolve_mllm_spec(mllm)
    compare = [part.strip() for value in compare_encoders for part in value.split(",") if part.strip()] or ["auto"]
    from openeyes.serving.compare_encoders import expand_specs

    for spec in expand_specs(compare):
        resolve(spec)  # the same early failure for a compare encoder
    if not 0 < port < 65536:
        raise UserError(f"--port must be 1..65535, got {port}")
    check_port_free(host, port)
    if engine.strip().lower() != "torch":
        from openeyes.encoders.loading import load_encoder

        engine = load_encoder(encoder, engine=engine).engine  # refuses a failing engine in one line; workers reuse the build
    plan = plan_index(index, 1 if standalone else workers)
    config = ServeConfig(encoder=encoder, mllm=mllm, mllm_api_key=mllm_api_key, index_dir=plan.location, api_key=api_key,
                         compare_encoders=list(compare), ui=(api_key is None) if ui is None else ui, torch_threads=threads,
                         engine=engine.strip().lower(), access_log=access_log)
    config.limits.url_allow_hosts = list(allow_host)
    if standalone:
        command = [sys.executable, "-m", "openeyes.serving.standalone", "--host", host, "--port", str(port)]
    else:
        command = [sys.executable, "-m", "openeyes.serving.launch", "openeyes.serving.service:OpenEyes",
                   "--host", host, "--port", str(port)]
    sys.stdout.flush()
    if plan.local_folder is None:
        os.execvpe(command[0], command, server_env(config, workers))
    started = start_local(plan)
    config.index_dir = plan.location
    try:
        code = supervise(command, server_env(config, workers))
    finally:
        stop_local(plan, started)
    raise typer.Exit(code)


def server_env(config, workers: int) -> dict[str, str]:
    from openeyes.serving.settings import config_to_env

    return {**os.environ, **config_to_env(config, workers), "BENTOML_DO_NOT_TRACK": os.environ.get("BENTOML_DO_NOT_TRACK", "true")}


def supervise(command: list[str], env: dict[str, str]) -> int:
    """Run the server as a child that dies with this process; forward stop signals; its exit code."""
    import ctypes
    import signal
    import subprocess

    def die_with_parent() -> None:  # PR_SET_PDEATHSIG: a kill -9 of this process stops the server too
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)

    child = subprocess.Popen(command, env=env, preexec_fn=die_with_parent)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, frame: child.send_signal(number))
    return child.wait()
