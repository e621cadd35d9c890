"""Package discovery for the layer folders.

The four layer folders (training/, integrations/, eval_mllm/, serving/) and zoo/ install as
subpackages of ``openeyes`` so that no generic top-level name (``training``...) ever lands in
site-packages. setuptools' ``package_dir`` does the mapping; this file only enumerates the
subpackages so that a new folder with an ``__init__.py`` is picked up without editing a list.
"""
import os

from setuptools import setup

LAYER_DIRS = {
    "openeyes": "openeyes",
    "openeyes.training": "training",
    "openeyes.integrations": "integrations",
    "openeyes.eval_mllm": "eval_mllm",
    "openeyes.serving": "serving",
    "openeyes.zoo": "zoo",
}


def _walk_packages(package: str, folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
        if "__init__.py" in files:
            rel = os.path.relpath(root, folder)
            found.append(package if rel == "." else package + "." + rel.replace(os.sep, "."))
    return found


packages, package_dir = [], {}
for package, folder in LAYER_DIRS.items():
    for name in _walk_packages(package, folder):
        packages.append(name)
        if name.startswith(package):
            suffix = name[len(package):].lstrip(".").replace(".", os.sep)
            package_dir[name] = os.path.join(folder, suffix) if suffix else folder

setup(packages=packages, package_dir=package_dir)
