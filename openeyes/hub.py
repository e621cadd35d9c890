"""Where a user's model spec points: a local directory, or a Hugging Face hub id worth asking for.

``locate(spec, what)`` turns ``zoo:NAME``, a path or a hub id into what ``from_pretrained``
should read, or fails in seconds with one line saying what was tried:
    - ``zoo:NAME``            the built zoo folder
    - an existing directory   itself
    - a path-looking spec     (``./x``, ``/x``, ``~/x``, ``a/b/c``, characters a hub id cannot have)
                              never goes to the hub: "no such directory"
    - a hub id (``name`` or ``org/name``)
        in the local HF cache and the hub unreachable (or ``HF_HUB_OFFLINE``): the cached snapshot folder
        hub reachable (a TCP connect within a few seconds): the id itself, downloaded as usual
        otherwise: "no such directory, and the hub is unreachable"
So a typo never sits through huggingface_hub's minute of "Retrying in 8s", and an error never
shows a ``PosixPath(...)`` or the hub's repo-id rules for a path the user typed.
"""
from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from openeyes.errors import UserError

HUB_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
REACH_TIMEOUT_S = 3.0  # how long the hub gets to accept a TCP connection


def looks_like_hub_id(spec: str) -> bool:
    """``name`` or ``org/name`` of hub-safe characters; anything path-like is not."""
    if spec.startswith((".", "/", "~")) or spec.endswith("/") or spec.count("/") > 1 or "\\" in spec:
        return False
    parts = spec.split("/")
    return all(part and not part.startswith((".", "-")) and set(part) <= HUB_ID_CHARS for part in parts)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = REACH_TIMEOUT_S) -> bool:
    """Whether the hub endpoint (or the HTTPS proxy in front of it) accepts a TCP connection in time."""
    from huggingface_hub import constants

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy or constants.ENDPOINT)
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    if not host:
        return False
    answered: list[bool] = []

    def probe() -> None:  # DNS has no timeout of its own: bound the whole probe by the join below
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answered.append(True)
        except OSError:
            answered.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(answered and answered[0])


def cached_snapshot(repo_id: str) -> str | None:
    """The local folder of ``repo_id`` in the HF cache, or None when it was never downloaded."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError), or an id the hub library rejects
        return None


def locate(spec: str | Path, what: str, accepted: str = "a local directory or a Hugging Face hub id") -> str:
    """A directory or hub id that ``from_pretrained`` can read right now; else a one-line ``UserError``."""
    from openeyes.zoo_registry import resolve as resolve_zoo

    text = str(spec).strip()
    if not text:
        raise UserError(f"empty {what}; give {accepted}")
    text = resolve_zoo(text)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise UserError(f"{what} {text}: is a file, not a directory; give {accepted}")
    if not looks_like_hub_id(text):
        raise UserError(f"{what} {text}: no such directory; give {accepted}")
    offline = hub_offline()
    if offline or not hub_reachable():
        snapshot = cached_snapshot(text)
        if snapshot is not None:
            return snapshot
        why = "HF_HUB_OFFLINE is set and it is not in the HF cache" if offline else \
            "the Hugging Face hub is unreachable (no network) and it is not in the HF cache"
        raise UserError(f"{what} {text}: no such directory, and as a hub id it cannot be fetched: {why}; "
                        f"check the path, or download the model once where there is a network")
    return text


def load_failure(what: str, spec: str, problem: Exception) -> UserError:
    """One line for a ``from_pretrained`` that failed on a located spec (no such repo, bad files)."""
    first = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
    return UserError(f"cannot load {what} {spec}: {first}")
