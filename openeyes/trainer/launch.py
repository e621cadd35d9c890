"""``python -m openeyes.trainer.launch [accelerate launch options] script.py [args]``.

The ``accelerate`` console script imports timm (hence torchvision) before anything else, which
fails next to CPU torch here (shared/ENVIRONMENT.md); importing ``openeyes`` first installs the
torchvision fix, then this runs accelerate's own ``launch`` command unchanged.

Several CPU processes (gloo): ``--multi_gpu --num_processes 2 --num_machines 1
--mixed_precision no --dynamo_backend no`` (accelerate's ``--cpu`` alone starts one process
unless MPI is set up). On GPUs the usual ``--multi_gpu`` / ``--num_processes`` apply.
"""
from __future__ import annotations

import openeyes  # noqa: F401  (torchvision fix before accelerate imports timm)


def main() -> None:
    from accelerate.commands.launch import main as accelerate_launch

    accelerate_launch()


if __name__ == "__main__":
    main()
