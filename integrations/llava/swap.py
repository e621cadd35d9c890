"""Swap the vision tower of a Llava MLLM for another encoder's, keeping the LM (and the projector when it fits).

The projector reads ``vision_width`` features (times the number of feature layers). A new
tower of the same width keeps it (retrain it with stage 1 anyway: its input distribution
changed); a different width needs ``reinit_projector`` (a fresh projector of the same type),
otherwise the swap is refused. The feature layer must exist in the new tower.
"""
from __future__ import annotations

from typing import Any

from openeyes.errors import UserError
from openeyes.integrations.llava.assemble import (
    AssembleOptions, build_processor, compose, has_cls_token, llava_config, new_projector, projector_name,
    set_generation_ids, vision_tower_from_encoder,
)


def projector_input_width(model: Any) -> int:
    return int(model.model.multi_modal_projector.linear_1.in_features)


def swap_encoder(model: Any, processor: Any, encoder: Any, *, reinit_projector: bool = False,
                 select_strategy: str | None = None, seed: int = 0):
    """(new model, new processor, projector_kept) with ``encoder``'s tower in ``model``."""
    old = model.config
    if isinstance(old.vision_feature_layer, (list, tuple)):
        raise UserError("swapping towers of a model with several vision_feature_layers is not supported")
    tower = vision_tower_from_encoder(encoder)
    if select_strategy is None and has_cls_token(tower.config) == has_cls_token(old.vision_config):
        select_strategy = old.vision_feature_select_strategy  # same family: keep what the model was trained with
    options = AssembleOptions(vision_feature_layer=old.vision_feature_layer, select_strategy=select_strategy,
                              projector=projector_name(old), seed=seed)
    config = llava_config(tower.config, old.text_config, old.image_token_index, options)
    new_width, expected = tower.config.hidden_size, projector_input_width(model)
    keep = new_width == expected and not reinit_projector
    if new_width != expected and not reinit_projector:
        raise UserError(f"the new encoder's vision width is {new_width} but the projector reads {expected}-wide "
                        f"features; pass --reinit-projector (then retrain it: openeyes integrate train --stage 1)")
    projector = model.model.multi_modal_projector if keep else new_projector(config, options.projector, seed)
    swapped = compose(tower, model.model.language_model, model.lm_head, config, projector)
    set_generation_ids(swapped, processor.tokenizer)
    new_processor = build_processor(encoder.image_processor, processor.tokenizer, tower.config,
                                    config.vision_feature_select_strategy)
    return swapped, new_processor, keep
