"""Make the CUDA-only torchvision 0.28.0 wheel importable next to a CPU build of torch.

torchvision 0.28.0 is the only release pinning torch 2.13.0, and PyPI has it only as a CUDA
build. Next to CPU torch its compiled library fails to load, and ``import torchvision`` then
dies registering fake kernels for ``torchvision::nms``/``qnms`` (shared/ENVIRONMENT.md).
Defining those two op schemas first makes the pure-Python parts work (transforms, models,
open_clip, HF image processors). Compiled ops (``torchvision.io`` decoders, nms) still fail:
openeyes decodes images with PIL.

Importing ``openeyes`` only installs a one-shot import hook (no torch import, no cost); the
fix runs the first time anything imports torchvision in that process, and defines the
schemas only when the compiled library really cannot load (never on a CUDA machine). Nothing
happens at other Python start-ups.

``install_startup_hook()`` (run by ``make setup``) writes a ``.pth`` file into the
environment's site-packages that installs the same one-shot hook at interpreter start-up, so code
that never imports openeyes (a model card's transformers snippet) also gets a working
torchvision in this environment. It costs one small import; torch is still not imported.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

_LIBRARY = None  # keeps the torch.library.Library alive for the life of the process


def _compiled_library_path() -> str | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    folder = os.path.dirname(spec.origin)
    for name in os.listdir(folder):
        if name.startswith("_C.") and name.endswith((".so", ".pyd")):
            return os.path.join(folder, name)
    return None


def define_missing_schemas() -> bool:
    """Return True when the schemas had to be defined (CPU torch + CUDA torchvision)."""
    global _LIBRARY
    if _LIBRARY is not None:
        return True
    path = _compiled_library_path()
    if path is None:
        return False
    import torch

    try:
        torch.ops.load_library(path)
        return False
    except (OSError, RuntimeError):
        pass
    _LIBRARY = torch.library.Library("torchvision", "DEF")
    _LIBRARY.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    return True


class _BeforeTorchvisionImport(importlib.abc.MetaPathFinder):
    """Runs ``define_missing_schemas`` once, just before torchvision is first imported."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            define_missing_schemas()
        return None  # the normal finders import the module


def ensure_torchvision_importable() -> None:
    """Arrange for the fix to run before torchvision is imported (idempotent)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _BeforeTorchvisionImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvisionImport())


STARTUP_HOOK_FILE = "openeyes-torchvision.pth"
STARTUP_HOOK_LINE = ("import sys; exec('try:\\n import openeyes._torchvision_compat\\nexcept Exception:\\n pass')\n")


def install_startup_hook(site_packages: str | None = None) -> str:
    """Write the ``.pth`` start-up hook into ``site_packages`` (default: this environment's); returns its path."""
    import sysconfig

    folder = site_packages or sysconfig.get_paths()["purelib"]
    path = os.path.join(folder, STARTUP_HOOK_FILE)
    with open(path, "w") as handle:
        handle.write(STARTUP_HOOK_LINE)
    return path
