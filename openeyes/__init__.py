"""openeyes: make the vision encoders of multimodal LLMs see better, and put them to work.

The core package: encoder runtimes, artifacts and cards, the generic trainer, the synthetic
world, config loading and the CLI root. The layers (``openeyes.training``,
``openeyes.integrations``, ``openeyes.eval_mllm``, ``openeyes.serving``) build on it.
"""
from openeyes._torchvision_compat import ensure_torchvision_importable

__version__ = "0.1.0"

ensure_torchvision_importable()
