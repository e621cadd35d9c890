"""Stage 1 / stage 2 training on a world export, export round trip, and one test per vLLM rule."""
import json
import shutil

import pytest
import torch

from openeyes.cli import main

RUN = ["trainer.steps=3", "trainer.batch_size=4", "trainer.progress_bar=false"]


def test_collate_labels_cover_answers_only(mllm_dir, world):
    from openeyes.integrations.llava.data import ConversationCollate, read_conversations
    from openeyes.mllm.loading import load_mllm

    model, processor, _ = load_mllm(mllm_dir)
    data = read_conversations(world, stage=2)
    batch = ConversationCollate(processor, model.config.image_seq_length)([data[0], data[1]])
    image = batch["input_ids"] == model.config.image_token_index
    assert (image.sum(1) == 16).all() and (batch["labels"][image] == -100).all()
    answers = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != -100])
    turns = [m["content"] for m in data[0]["messages"] if m["role"] == "assistant"]
    assert answers == "".join(f" {t}</s>" for t in turns)


def test_stage1_trains_projector_only_then_stage2_and_export(mllm_dir, world, tmp_path):
    from openeyes.mllm.loading import load_mllm

    s1, s2, exported = tmp_path / "s1", tmp_path / "s2", tmp_path / "export"
    assert main(["integrate", "train", "--stage", "1", "--mllm", mllm_dir, "--data", world, "--out", str(s1), *RUN]) == 0
    before, _, _ = load_mllm(mllm_dir)
    after, _, card = load_mllm(s1)
    changed = {name for name, p in after.state_dict().items() if not torch.equal(p, before.state_dict()[name])}
    assert changed and all("multi_modal_projector" in name for name in changed)
    assert card["config"]["optim"]["lr"] == 1e-3 and card["config"]["optim"]["weight_decay"] == 0.0
    again = ["integrate", "train", "--stage", "1", "--mllm", mllm_dir, "--data", world, "--out", str(s1), *RUN]
    assert main(again) == 2  # its run folder s1.run is not resumed unless asked
    assert main([*again, "--resume", "optim.lr=5e-4"]) == 2  # nor with another learning rate
    assert main(["integrate", "train", "--stage", "2", "--mllm", str(s1), "--data", world, "--out", str(s2), *RUN]) == 0
    tuned, _, _ = load_mllm(s2)
    assert not any("lora" in name for name in tuned.state_dict())
    assert not torch.equal(tuned.model.language_model.layers[0].self_attn.q_proj.weight,
                           after.model.language_model.layers[0].self_attn.q_proj.weight)
    assert main(["integrate", "export", "--mllm", str(s2), "--out", str(exported)]) == 0
    readme = (exported / "README.md").read_text()
    assert f"vllm serve {exported}" in readme and f"--model llava_hf --model_args pretrained={exported}" in readme


def stage2_changes(mllm_dir, world, out, *settings):
    """Run stage 2 with ``settings``; (names of changed weights, the trained model, its card)."""
    from openeyes.mllm.loading import load_mllm

    assert main(["integrate", "train", "--stage", "2", "--mllm", mllm_dir, "--data", world, "--out", str(out),
                 *settings, *RUN]) == 0
    before, _, _ = load_mllm(mllm_dir)
    after, _, card = load_mllm(out)
    changed = {name for name, p in after.state_dict().items() if not torch.equal(p, before.state_dict()[name])}
    return changed, after, card


def test_stage2_can_tune_the_vision_tower_and_stage1_refuses_it(mllm_dir, world, tmp_path, capsys):
    changed, _, card = stage2_changes(mllm_dir, world, tmp_path / "s2v", "train_vision_tower=true")
    assert any(name.startswith("model.vision_tower.") for name in changed)
    assert any("multi_modal_projector" in name for name in changed) and card["config"]["train_vision_tower"]
    assert main(["integrate", "train", "--stage", "1", "--mllm", mllm_dir, "--data", world,
                 "--out", str(tmp_path / "bad"), "train_vision_tower=true", *RUN]) == 2
    assert "stage 2 only" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_stage2_full_lm_tuning_changes_lm_and_head_without_adapters(mllm_dir, world, tmp_path, capsys):
    changed, after, card = stage2_changes(mllm_dir, world, tmp_path / "s2full", "lm_tuning=full")
    assert not any("lora" in name for name in after.state_dict())
    assert "lm_head.weight" in changed
    assert any(name.startswith("model.language_model.") and name.endswith("mlp.down_proj.weight") for name in changed)
    assert any("multi_modal_projector" in name for name in changed)
    assert not any(name.startswith("model.vision_tower.") for name in changed)
    assert card["config"]["lm_tuning"] == "full"
    assert main(["integrate", "train", "--stage", "2", "--mllm", mllm_dir, "--data", world,
                 "--out", str(tmp_path / "bad"), "lm_tuning=everything", *RUN]) == 2
    assert "lm_tuning" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_export_loads_offline_with_auto_classes_and_generates_the_same(mllm_dir, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration

    from openeyes.integrations.llava.export import export_mllm, greedy_probe
    from openeyes.mllm.loading import load_mllm

    out = export_mllm(mllm_dir, tmp_path / "e", check=False)
    model, processor, _ = load_mllm(mllm_dir)
    auto = AutoModelForImageTextToText.from_pretrained(str(out))
    plain = LlavaForConditionalGeneration.from_pretrained(str(out))
    auto_processor = AutoProcessor.from_pretrained(str(out))
    expected = greedy_probe(model, processor)
    assert len(expected) > 0
    assert greedy_probe(auto, auto_processor) == expected == greedy_probe(plain, auto_processor)


@pytest.fixture(scope="module")
def exported(mllm_dir, tmp_path_factory):
    from openeyes.integrations.llava.export import export_mllm

    return export_mllm(mllm_dir, tmp_path_factory.mktemp("exp") / "e", check=False)


def _broken(exported, tmp_path, edit_config=None, edit_weights=None):
    target = tmp_path / "broken"
    shutil.copytree(exported, target)
    if edit_config:
        config = json.loads((target / "config.json").read_text())
        edit_config(config)
        (target / "config.json").write_text(json.dumps(config))
    if edit_weights:
        from safetensors.torch import load_file, save_file

        state = load_file(str(target / "model.safetensors"))
        save_file(edit_weights(state), str(target / "model.safetensors"))
    return target


def _set(key, value):
    return lambda config: config.__setitem__(key, value)


@pytest.mark.parametrize("rule, edit_config, edit_weights", [
    ("architecture", _set("architectures", ["LlavaLlamaForCausalLM"]), None),
    ("vision_config", lambda c: c["vision_config"].__setitem__("model_type", "dinov2"), None),
    ("projector_layout", None, lambda s: {k.replace("linear_2", "linear_3"): v for k, v in s.items()}),
    ("projector_layout", _set("projector_hidden_act", "linear"), None),
    ("image_token", _set("image_token_index", 5), None),
    ("image_seq_length", _set("image_seq_length", 17), None),
    ("vision_feature_layer", _set("vision_feature_layer", -9), None),
    # a tower saved without the vision_model. level (what transformers 5 writes for an in-memory tower)
    ("tower_layout", None, lambda s: {k.replace("vision_tower.vision_model.", "vision_tower."): v for k, v in s.items()}),
    ("context", lambda c: c["text_config"].__setitem__("max_position_embeddings", 40), None),
])
def test_each_vllm_rule_catches_its_violation(exported, tmp_path, rule, edit_config, edit_weights):
    from openeyes.errors import UserError
    from openeyes.integrations.llava.vllm_rules import check_vllm_rules, require_vllm_compatible

    assert check_vllm_rules(exported) == {}
    broken = _broken(exported, tmp_path, edit_config, edit_weights)
    problems = check_vllm_rules(broken)
    assert rule in problems and (rule == "vision_config" or list(problems) == [rule])
    with pytest.raises(UserError, match=rule):
        require_vllm_compatible(broken)


def test_vllm_rules_accept_the_layout_transformers_4_52_saves(exported, tmp_path):
    """vLLM's hf_to_vllm_mapper reads both layouts; so do the rules (and transformers 5 loads both)."""
    from openeyes.complete_load import load_complete
    from openeyes.integrations.llava.vllm_rules import check_vllm_rules
    from transformers import LlavaForConditionalGeneration

    renames = (("language_model.model.", "model.language_model."), ("language_model.lm_head.", "lm_head."),
               ("vision_tower.", "model.vision_tower."), ("multi_modal_projector.", "model.multi_modal_projector."))

    def relayout(state):
        out = {}
        for key, value in state.items():
            for old, new in renames:
                if key.startswith(old):
                    key = new + key[len(old):]
                    break
            out[key] = value
        return out

    moved = _broken(exported, tmp_path, None, relayout)
    (moved / "openeyes.json").unlink()
    assert check_vllm_rules(moved) == {}
    load_complete(LlavaForConditionalGeneration, str(moved))
