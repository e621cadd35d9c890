"""The stage-2 instruction mix (world conversations + benchmark-format items) and the tiny-LM recipe."""
import json
from pathlib import Path

import pytest

from openeyes.cli import main


@pytest.fixture(scope="module")
def bench_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("mixworld") / "w"
    assert main(["world", "generate", "--out", str(out), "--n", "24", "--size", "32",
                 "--only", "llava_pretrain,llava_instruct,mmvp,pope,cv_bench,naturalbench"]) == 0
    return out


def test_mix_rows_answer_every_benchmark_item_correctly(bench_world, tmp_path):
    """Each benchmark row's gold answer, read by that benchmark's default-protocol parser, scores 100 %."""
    from openeyes.eval_mllm.mllm.registry import benchmark
    from openeyes.integrations.llava.data import read_conversations
    from openeyes.integrations.llava.world_mix import build_world_mix

    out = bench_world / "mix.json"
    counts = build_world_mix(bench_world, out, per_benchmark=40, seed=3)
    rows = json.loads(out.read_text())
    assert len(rows) == sum(counts.values()) and counts["pope"] == 40 and counts["llava_instruct"] == 24
    dataset = read_conversations(out, stage=2)  # every image path resolves from the world root
    assert len(dataset) == len(rows)
    for bench in ("mmvp", "pope", "cv_bench", "naturalbench"):
        module = benchmark(bench)
        items = module.load(bench_world / bench)
        golds = {row["id"].split("-", 1)[1]: row["conversations"][1]["value"]
                 for row in rows if row["id"].startswith(bench + "-")}
        chosen = [item for item in items if str(item.id) in golds]
        assert chosen, bench
        if bench in ("mmvp", "naturalbench"):  # paired metrics need whole pairs/groups: score per item instead
            assert all(module.is_correct(golds[str(i.id)], i) if bench == "mmvp"
                       else module.parse(golds[str(i.id)], i) == (1 if i.gold.lower() in ("yes", "a") else 0)
                       for i in chosen)
        else:
            scored = module.score(chosen, {item.id: golds[str(item.id)] for item in chosen})
            assert scored["metrics"]["accuracy"] == pytest.approx(1.0), (bench, scored["metrics"])


def test_mix_can_carry_caption_rows_that_resolve_from_the_world_root(bench_world, tmp_path):
    from openeyes.integrations.llava.data import read_conversations
    from openeyes.integrations.llava.world_mix import build_world_mix

    out = tmp_path / "cap.json"
    counts = build_world_mix(bench_world, out, per_benchmark=5, seed=2, captions=10)
    rows = json.loads(out.read_text())
    captions = [row for row in rows if row["image"].startswith("llava_pretrain/images/")]
    assert counts["llava_pretrain"] == len(captions) == 10 and len(rows) == sum(counts.values())
    pretrain = json.loads((bench_world / "llava_pretrain" / "blip_laion_cc_sbu_558k.json").read_text())
    by_id = {row["id"]: row for row in pretrain}
    assert all(row["conversations"] == by_id[row["id"]]["conversations"] for row in captions)
    assert len(read_conversations(out, stage=2, image_folder=bench_world)) == len(rows)  # every image resolves
    assert build_world_mix(bench_world, tmp_path / "all.json", per_benchmark=5, captions=10_000)["llava_pretrain"] == 24


def test_mix_is_deterministic_and_bad_input_is_refused(bench_world, tmp_path):
    from openeyes.errors import UserError
    from openeyes.integrations.llava.world_mix import build_world_mix

    build_world_mix(bench_world, tmp_path / "a.json", per_benchmark=10, seed=1)
    build_world_mix(bench_world, tmp_path / "b.json", per_benchmark=10, seed=1)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    with pytest.raises(UserError, match="per_benchmark"):
        build_world_mix(bench_world, tmp_path / "c.json", per_benchmark=0)
    with pytest.raises(UserError, match="not found"):
        build_world_mix(tmp_path / "missing", tmp_path / "c.json")
    with pytest.raises(UserError, match="captions"):
        build_world_mix(bench_world, tmp_path / "c.json", captions=-1)


def test_mix_can_weight_one_benchmark_and_cap_the_conversations(bench_world, tmp_path):
    """``bench_counts`` overrides ``per_benchmark`` for the benchmarks it names; ``conversations`` caps the chats."""
    from openeyes.errors import UserError
    from openeyes.integrations.llava.world_mix import build_world_mix

    counts = build_world_mix(bench_world, tmp_path / "w.json", per_benchmark=5, bench_counts={"pope": 30}, conversations=7)
    rows = json.loads((tmp_path / "w.json").read_text())
    assert counts["pope"] == 30 and counts["mmvp"] == counts["cv_bench"] == 5 and counts["llava_instruct"] == 7
    assert sum(row["id"].startswith("pope-") for row in rows) == 30 and len(rows) == sum(counts.values())
    with pytest.raises(UserError, match="bench_counts names vqa"):
        build_world_mix(bench_world, tmp_path / "x.json", bench_counts={"vqa": 3})
    with pytest.raises(UserError, match="conversations count"):
        build_world_mix(bench_world, tmp_path / "x.json", conversations=-1)
    assert not (tmp_path / "x.json").exists()


def test_world_mix_cli_reads_counts_and_refuses_a_malformed_one(bench_world, tmp_path, capsys):
    out = tmp_path / "cli.json"
    assert main(["integrate", "world-mix", "--world", str(bench_world), "--out", str(out), "--per-benchmark", "4",
                 "--count", "pope=9", "--conversations", "3"]) == 0
    assert "pope 9" in capsys.readouterr().out and len(json.loads(out.read_text())) == 3 + 9 + 3 * 4
    assert main(["integrate", "world-mix", "--world", str(bench_world), "--out", str(tmp_path / "bad.json"),
                 "--count", "pope"]) == 2
    assert "BENCH=N" in capsys.readouterr().err and not (tmp_path / "bad.json").exists()


def test_tiny_lm_recipe_learns_the_world_text(bench_world, tmp_path, capsys):
    """20 steps lower the LM loss; the result loads as a transformers Llama + tokenizer with a card."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openeyes.artifacts import read_card

    out, run = tmp_path / "lm", tmp_path / "lm.run"
    config = tmp_path / "lm.yaml"
    config.write_text(
        "model: {vocab_size: 400, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,"
        " num_attention_heads: 2, num_key_value_heads: 1}\n"
        f"data: {{files: [{bench_world / 'llava_instruct' / 'llava_v1_5_mix665k.json'}], max_length: 64}}\n"
        f"out: {out}\ntrainer: {{steps: 20, batch_size: 8, log_every: 1, checkpoint_every: 0, out_dir: {run},"
        " progress_bar: false}\noptim: {lr: 3.0e-3}\n")
    assert main(["integrate", "tiny-lm", "--config", str(config)]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"loss"' in line]
    assert log[-1]["loss"] < log[0]["loss"] - 0.5
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.hidden_size == 32 and "<image>" in tokenizer.get_vocab()
    assert read_card(out, kind="lm")["steps"] == 20
    assert main(["integrate", "tiny-lm", "--config", str(config)]) == 2  # a used run folder: refused
    assert main(["integrate", "tiny-lm", "--config", str(config), "--resume", "trainer.steps=21"]) == 0
    assert "resuming from step 20 of" in capsys.readouterr().out


def test_tiny_lm_answers_only_loss_covers_exactly_the_assistant_replies(tmp_path):
    from openeyes.integrations.llava.tiny_lm import train_tiny_lm_tokenizer
    from openeyes.integrations.llava.tiny_lm_recipe import (
        PadCollate, TokenizedConversations, conversation_segment_lists,
    )

    rows = [{"id": "0", "conversations": [
        {"from": "human", "value": "a red circle.\nIs there a circle in the image?"}, {"from": "gpt", "value": "Yes"},
        {"from": "human", "value": "What color is the circle?"}, {"from": "gpt", "value": "Red"}]}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rows))
    conversations = conversation_segment_lists(path)
    tokenizer = train_tiny_lm_tokenizer(["".join(p for p, _ in c) for c in conversations] * 20, vocab_size=300)
    answers = TokenizedConversations(conversations, tokenizer, 128, "answers")
    everything = TokenizedConversations(conversations, tokenizer, 128, "all")
    batch = PadCollate(tokenizer.pad_token_id)([answers[0], everything[0]])
    trained = batch["labels"][0][batch["labels"][0] != -100].tolist()
    assert tokenizer.decode(trained) == " Yes</s> Red</s>"
    assert (batch["labels"][1][: len(everything[0][0])] != -100).all()
    assert batch["input_ids"][0, 0].item() == tokenizer.bos_token_id


def test_tiny_lm_bad_loss_on_is_a_one_line_error(bench_world, tmp_path, capsys):
    config = tmp_path / "lm.yaml"
    corpus = bench_world / "llava_instruct" / "llava_v1_5_mix665k.json"
    config.write_text(f"out: {tmp_path / 'lm'}\ndata: {{files: [{corpus}], loss_on: prompts}}\n"
                      f"trainer: {{out_dir: {tmp_path / 'run'}}}\n")
    assert main(["integrate", "tiny-lm", "--config", str(config)]) == 2
    assert "data.loss_on" in capsys.readouterr().err
    assert not (tmp_path / "lm").exists() and not (tmp_path / "run").exists()


def test_tiny_lm_without_corpus_is_a_one_line_error(tmp_path, capsys):
    config = tmp_path / "lm.yaml"
    config.write_text(f"out: {tmp_path / 'lm'}\ntrainer: {{out_dir: {tmp_path / 'run'}}}\n")
    assert main(["integrate", "tiny-lm", "--config", str(config)]) == 2
    assert "data.files is empty" in capsys.readouterr().err


def test_stage2_learning_rate_default_yields_to_the_config_file(tmp_path):
    """LLaVA's stage-2 lr (2e-4) applies unless the YAML sets optim.lr itself; CLI overrides come last anyway."""
    from openeyes.integrations.llava.train import stage_defaults

    with_lr, without_lr = tmp_path / "a.yaml", tmp_path / "b.yaml"
    with_lr.write_text("optim: {lr: 1.0e-3}\n")
    without_lr.write_text("trainer: {steps: 5}\n")
    assert stage_defaults(2, with_lr) == []
    assert stage_defaults(2, without_lr) == ["optim.lr=2e-4"] == stage_defaults(2, None)
    assert stage_defaults(1, without_lr) == []


@pytest.mark.parametrize("recipe", ["zoo/tiny-lm/train.yaml", "zoo/tiny-lm/train_scene_text.yaml"])
def test_zoo_tiny_lm_recipes_load(recipe):
    """The zoo's tiny-LM recipes parse into the config they are run with (unknown keys would be refused)."""
    from openeyes.config import load_config
    from openeyes.integrations.llava.tiny_lm_recipe import LOSS_ON, TinyLMTrainConfig

    config = load_config(TinyLMTrainConfig, Path(__file__).parents[2] / recipe, [])
    assert config.data.files and config.data.loss_on in LOSS_ON and config.trainer.steps > 0
