"""Benchmark and dataset exporters, one module each, in the official on-disk layouts.

``EXPORTERS`` maps an export name (also its folder under the output directory) to a function
``export(folder, context) -> counts``. All draw from the test split (``attribute_probe``
writes its own train and test probe splits, both drawn from it).
"""
from __future__ import annotations

from openeyes.world.exporters import (
    attribute_probe, classification, cv_bench, llava_instruct, llava_pretrain, mmvp, mmvp_vlm, naturalbench, pope,
    retrieval, scene_text,
)

EXPORTERS = {
    "mmvp_vlm": mmvp_vlm.export,
    "mmvp": mmvp.export,
    "pope": pope.export,
    "cv_bench": cv_bench.export,
    "naturalbench": naturalbench.export,
    "llava_pretrain": llava_pretrain.export,
    "llava_instruct": llava_instruct.export,
    "classification": classification.export,
    "retrieval": retrieval.export,
    "scene_text": scene_text.export,
    "attribute_probe": attribute_probe.export,
}
