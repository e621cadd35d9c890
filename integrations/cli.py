"""``openeyes integrate``: assemble, swap, train (stage 1/2), export, and original-LLaVA interop.

Heavy imports (torch, transformers) happen inside the commands so that ``--help`` stays fast.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from openeyes.errors import UserError
from openeyes.trainer.options import FORCE_RESUME, RESUME, resume_overrides

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Put any encoder into a LLaVA-style MLLM, retrain it, export it.")


def _fresh_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file")


@app.command()
def llava(
    encoder: str = typer.Option(..., help="encoder: artifact dir, HF dir/id, open_clip:<model>[@ckpt], zoo:NAME"),
    lm: str = typer.Option(..., help="causal LM: HF dir or hub id (Llama, Qwen2, ...)"),
    out: Path = typer.Option(..., help="where the mllm artifact goes"),
    vision_feature_layer: int = typer.Option(-2, help="tower hidden state fed to the projector"),
    select_strategy: Optional[str] = typer.Option(None, help="default (drop CLS) | full; default: CLIP->default, SigLIP->full"),
    projector: str = typer.Option("mlp2x_gelu", help="mlp2x_gelu | linear (linear is not servable by vLLM)"),
    seed: int = typer.Option(0, help="projector init seed"),
    name: Optional[str] = typer.Option(None, help="artifact name (default: the out folder's name)"),
):
    """Assemble a LlavaForConditionalGeneration from an encoder and a causal LM."""
    from openeyes.encoders.loading import encoder_source, load_encoder
    from openeyes.hub import locate
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.assemble import PROJECTORS, AssembleOptions, assemble, load_language_model

    _fresh_out(out)
    if projector not in PROJECTORS:
        raise UserError(f"--projector must be one of {', '.join(PROJECTORS)}, got {projector!r}")
    if select_strategy not in (None, "default", "full"):
        raise UserError(f"--select-strategy must be default or full, got {select_strategy!r}")
    options = AssembleOptions(vision_feature_layer, select_strategy, projector, seed)
    encoder_source(encoder), locate(lm, "language model")  # a mistyped spec fails before anything loads
    enc = load_encoder(encoder)
    language_model, tokenizer = load_language_model(lm)
    model, processor = assemble(enc, language_model, tokenizer, options)
    save_mllm(model, processor, out, name=name or out.name, base=f"{encoder} + {lm}",
              config={"vision_feature_layer": vision_feature_layer, "select_strategy": select_strategy,
                      "projector": projector, "seed": seed}, seed=seed, steps=0, encoder=encoder, language_model=lm)
    typer.echo(f"wrote {out} (image tokens {model.config.image_seq_length}, projector {projector})")


@app.command()
def swap(
    mllm: Path = typer.Option(..., help="existing Llava directory (artifact or transformers dir)"),
    encoder: str = typer.Option(..., help="the new encoder"),
    out: Path = typer.Option(..., help="where the swapped mllm goes"),
    reinit_projector: bool = typer.Option(False, help="new projector (needed when the vision width changes)"),
    seed: int = typer.Option(0, help="projector init seed (with --reinit-projector)"),
):
    """Replace the vision tower of an MLLM, keeping its LM (and projector when the width matches)."""
    from openeyes.encoders.loading import encoder_source, load_encoder
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.swap import swap_encoder
    from openeyes.mllm.loading import load_mllm

    _fresh_out(out)
    encoder_source(encoder)  # a mistyped --encoder fails before the MLLM loads
    model, processor, card = load_mllm(mllm)
    swapped, new_processor, kept = swap_encoder(model, processor, load_encoder(encoder),
                                                reinit_projector=reinit_projector, seed=seed)
    save_mllm(swapped, new_processor, out, name=out.name, base=card.get("name") or str(mllm),
              config={"swap_from": str(mllm), "encoder": encoder, "reinit_projector": reinit_projector},
              seed=seed, steps=0, encoder=encoder, projector_kept=kept,
              language_model=(card.get("mllm") or {}).get("language_model"),
              needs_stage1=True)
    typer.echo(f"wrote {out} (projector {'kept' if kept else 're-initialised'}; retrain it with integrate train --stage 1)")


@app.command(context_settings={"allow_extra_args": True})
def train(
    stage: int = typer.Option(1, help="1: projector only; 2: projector + the LM (LoRA, or lm_tuning=full)"),
    mllm: Path = typer.Option(..., help="starting MLLM directory"),
    data: str = typer.Option(..., help="LLaVA JSON file or a world export folder"),
    out: Path = typer.Option(..., help="where the trained mllm artifact goes"),
    config: Optional[Path] = typer.Option(None, help="YAML config (LlavaTrainConfig)"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. trainer.steps=200 optim.lr=5e-4"),
    resume: bool = RESUME,
    force_resume: bool = FORCE_RESUME,
):
    """LLaVA stage 1 (projector) or stage 2 (projector + LoRA, or the whole LM with lm_tuning=full) training."""
    from openeyes.config import load_config
    from openeyes.integrations.llava.train import LlavaTrainConfig, stage_defaults, train_llava

    _fresh_out(out)
    settings = [*stage_defaults(stage, config), f"stage={stage}", f"mllm={mllm}", f"data.path={data}", f"out={out}",
                *resume_overrides(resume, force_resume), *(overrides or [])]
    run = load_config(LlavaTrainConfig, config, settings)
    result = train_llava(run)
    typer.echo(f"wrote {result}")


@app.command()
def export(
    mllm: str = typer.Option(..., help="MLLM directory or zoo:NAME"),
    out: Path = typer.Option(..., help="serving directory (transformers, vLLM, lmms-eval llava_hf)"),
    check: bool = typer.Option(True, help="reload offline and compare greedy generation"),
    dtype: str = typer.Option("source", help="weights dtype: source (as the MLLM stores them) | float32 | float16 | bfloat16"),
):
    """Write a transformers (4.45+ and 5.x)/vLLM/lmms-eval-ready Llava directory with a model card."""
    from openeyes.integrations.llava.export import export_mllm

    _fresh_out(out)
    export_mllm(str(mllm), out, check=check, dtype=dtype)
    typer.echo(f"wrote {out}\n  vllm serve {out}\n  lmms-eval --model llava_hf --model_args pretrained={out}")


@app.command("import-original")
def import_original_command(
    src: Path = typer.Option(..., help="original-LLaVA checkpoint dir (LlavaLlamaForCausalLM config with mm_*)"),
    out: Path = typer.Option(..., help="where the mllm artifact goes"),
    vision_tower: Optional[str] = typer.Option(None, help="local vision tower dir (overrides mm_vision_tower)"),
    projector_bin: Optional[Path] = typer.Option(None, help="separate stage-1 mm_projector.bin"),
):
    """Import a checkpoint in the original LLaVA code base's layout."""
    from openeyes.integrations.llava.original import import_original

    _fresh_out(out)
    import_original(src, out, vision_tower=vision_tower, projector_bin=projector_bin)
    typer.echo(f"wrote {out}")


@app.command("export-original")
def export_original_command(
    mllm: str = typer.Option(..., help="MLLM directory or zoo:NAME"),
    out: Path = typer.Option(..., help="folder for config.json, mm_projector.bin, vision_tower/ (name it *llava*: LLaVA's builder keys on the name)"),
    full: bool = typer.Option(False, help="also write the whole LlavaLlamaForCausalLM checkpoint and tokenizer"),
    mm_vision_tower: str = typer.Option("vision_tower", help="config's mm_vision_tower: relative dir (LLaVA resolves it from its working directory) or a hub id"),
    dtype: str = typer.Option("source", help="weights dtype: source | float32 | float16 | bfloat16"),
):
    """Write the MLLM in the original LLaVA code base's layout (stage-1 projector, tower, config; --full: all)."""
    from openeyes.integrations.llava.original import export_original

    _fresh_out(out)
    export_original(mllm, out, full=full, vision_tower_ref=mm_vision_tower, dtype=dtype)
    typer.echo(f"wrote {out} (LLaVA: load_pretrained_model({str(out)!r}, " + ("None" if full else "LM_DIR") +
               f", 'llava-...') from {out}, or --vision_tower {out}/vision_tower --pretrain_mm_mlp_adapter "
               f"{out}/mm_projector.bin)")


@app.command("tiny-lm", context_settings={"allow_extra_args": True})
def tiny_lm_command(
    config: Path = typer.Option(..., help="YAML config (TinyLMTrainConfig), e.g. zoo/tiny-lm/train.yaml"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. trainer.steps=100"),
    resume: bool = RESUME,
    force_resume: bool = FORCE_RESUME,
):
    """Train the embedded tiny causal LM (tokenizer + Llama) from scratch on LLaVA JSON text."""
    from openeyes.config import load_config
    from openeyes.integrations.llava.tiny_lm_recipe import TinyLMTrainConfig, train_tiny_lm

    settings = [*resume_overrides(resume, force_resume), *(overrides or [])]
    result = train_tiny_lm(load_config(TinyLMTrainConfig, config, settings))
    typer.echo(f"wrote {result}")


@app.command("world-mix")
def world_mix_command(
    world: Path = typer.Option(..., help="world export with llava_instruct and the benchmark exports"),
    out: Path = typer.Option(..., help="the instruction-mix JSON to write (images relative to --world)"),
    per_benchmark: Optional[int] = typer.Option(None, help="at most this many rows per benchmark (seeded subset)"),
    seed: int = typer.Option(0, help="subset and shuffle seed"),
    captions: int = typer.Option(0, help="also this many llava_pretrain caption rows (seeded subset)"),
    count: Optional[List[str]] = typer.Option(None, help="BENCH=N: at most N rows of that benchmark (overrides --per-benchmark; repeatable)"),
    conversations: Optional[int] = typer.Option(None, help="at most this many llava_instruct conversations (seeded subset)"),
):
    """Instruction mix for stage 2: world conversations + benchmark-format questions (training seeds only)."""
    from openeyes.integrations.llava.world_mix import build_world_mix

    bench_counts = {}
    for text in count or []:
        name, _, value = text.partition("=")
        if not value.strip().isdigit():
            raise UserError(f"--count takes BENCH=N (N a whole number), got {text!r}")
        bench_counts[name.strip()] = int(value)
    counts = build_world_mix(world, out, per_benchmark=per_benchmark, seed=seed, captions=captions,
                             bench_counts=bench_counts, conversations=conversations)
    typer.echo(f"wrote {out} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
