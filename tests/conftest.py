"""Test-wide settings: offline hubs, no telemetry, one torch thread per test process."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import openeyes  # noqa: E402,F401  (installs the CPU-torchvision fix before anything imports it)
import torch  # noqa: E402

torch.set_num_threads(2)
