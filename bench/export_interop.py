"""Interop check of ``openeyes integrate export``: other clients load the export and answer as openeyes does.

    python bench/export_interop.py [--mllm zoo:tiny-llava] [--n 60] [--clients tf4.57.6,tf4.45.2,tf5.23.0,lmms-eval]

Builds one virtualenv per client from the package registries (cached under
``~/.cache/openeyes/interop/<client>``; ``torch==2.13.0`` is the CPU build here), exports the
MLLM, generates a world with POPE and MMVP (``openeyes world generate --only pope,mmvp``),
computes openeyes' greedy answers on ``--n`` items of each (half asked text-first, half
image-first), then runs ``interop_client.py`` in each client's venv: transformers loads the
export (missing/unexpected keys counted, every stored tensor found among the loaded weights)
and answers the same items through the export's chat template; lmms-eval answers them through
its own ``llava_hf`` class; the model card's snippet runs as printed in every transformers venv;
with ``--llava-src`` (a checkout of haotian-liu/LLaVA, which is not on PyPI), the original code
base's ``load_pretrained_model`` loads ``export-original --full`` and answers the same items.
Prints one JSON line per client (equal answers per benchmark, keys loaded) and a summary line;
exits 1 when any client differs or fails to load every weight.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLIENTS = {  # name -> (pip requirements, runner mode)
    "tf4.45.2": (["torch==2.13.0", "transformers==4.45.2", "pillow", "safetensors", "numpy<2"], "transformers"),
    "tf4.57.6": (["torch==2.13.0", "transformers==4.57.6", "pillow", "safetensors"], "transformers"),
    "tf5.23.0": (["torch==2.13.0", "transformers==5.23.0", "pillow", "safetensors"], "transformers"),
    "lmms-eval": (["torch==2.13.0", "lmms-eval==0.7.3", "decord"], "lmms_eval"),
    # the original LLaVA code base pins transformers 4.37.2; its source comes from --llava-src (not on PyPI)
    "llava-original": (["torch==2.13.0", "transformers==4.37.2", "pillow", "safetensors", "numpy<2", "sentencepiece",
                        "accelerate"], "llava_original"),
}
CACHE = Path(os.environ.get("OPENEYES_INTEROP_CACHE", Path.home() / ".cache" / "openeyes" / "interop"))


def venv_python(name: str) -> Path:
    """The client's venv (built once; a ``.ready`` file records its requirements)."""
    requirements, _ = CLIENTS[name]
    folder = CACHE / name
    ready = folder / ".ready"
    if not (ready.is_file() and ready.read_text().split() == requirements):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        subprocess.run([str(folder / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *requirements],
                       check=True)
        ready.write_text(" ".join(requirements))
    return folder / "bin" / "python"


def world_items(world: Path, n: int) -> list[dict]:
    """``n`` POPE and ``n`` MMVP items as (key, bench, prompt, image, order), prompts as openeyes builds them."""
    from openeyes.eval_mllm.mllm.registry import benchmark

    items = []
    for bench in ("pope", "mmvp"):
        module = benchmark(bench)
        for index, item in enumerate(module.load(world / bench)[:n]):
            prompt, images, _ = module.build_prompt(item)
            items.append({"key": f"{bench}/{item.id}", "bench": bench, "prompt": prompt, "image": str(images[0]),
                          "order": "text_first" if index % 2 else "image_first"})
    return items


def openeyes_answers(export: Path, items: list[dict], max_new_tokens: int) -> dict[str, str]:
    """openeyes' own greedy answers (its runtime, batched, image-first as its runners ask)."""
    from PIL import Image

    from openeyes.mllm.local import TransformersMLLM

    mllm = TransformersMLLM.from_pretrained(str(export), batch_size=8)
    requests = [(Image.open(item["image"]).convert("RGB"), item["prompt"]) for item in items]
    return dict(zip([item["key"] for item in items], mllm.generate(requests, max_new_tokens=max_new_tokens)))


def run_client(name: str, export: Path, work: Path, items_file: Path, max_new_tokens: int, llava_src: str | None) -> dict:
    mode = CLIENTS[name][1]
    if mode == "llava_original":
        if not llava_src:
            return {"error": "skipped: pass --llava-src DIR (a checkout of haotian-liu/LLaVA)"}
        export = work / "llava-original-export"  # LLaVA's builder needs 'llava' in the folder name
    python = venv_python(name)
    out = work / f"{name}.json"
    extra = {"lmms_eval": [str(REPO / "openeyes" / "_torchvision_compat.py")],
             "llava_original": [str(llava_src)]}.get(mode, [])
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH",)}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    done = subprocess.run([str(python), str(HERE / "interop_client.py"), mode, str(export), str(items_file), str(out),
                           str(max_new_tokens), *extra], cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    result = json.loads(out.read_text())
    if mode == "transformers":
        snippet_out = work / f"{name}-snippet.json"
        ran = subprocess.run([str(python), str(HERE / "interop_client.py"), "snippet", str(export),
                              str(export / "README.md"), str(snippet_out)], cwd=work, env=env, capture_output=True,
                             text=True)
        result["snippet"] = (json.loads(snippet_out.read_text()) if ran.returncode == 0
                             else {"ran": False, "error": (ran.stderr.strip().splitlines() or ["?"])[-1]})
    return result


def compare(result: dict, reference: dict[str, str], items: list[dict]) -> dict:
    answers = result.get("answers") or {}
    figures = {}
    for bench in ("pope", "mmvp"):
        for order in ("image_first", "text_first", None):
            keys = [i["key"] for i in items if i["bench"] == bench and (order is None or i["order"] == order)]
            same = sum(answers.get(key) == reference[key] for key in keys)
            figures[f"{bench}{'_' + order if order else ''}_identical"] = f"{same}/{len(keys)}"
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mllm", default="zoo:tiny-llava")
    parser.add_argument("--n", type=int, default=60, help="items per benchmark")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--work", default=str(REPO / "runs" / "export_interop"))
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--llava-src", default=None, help="checkout of haotian-liu/LLaVA (for the llava-original client)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import openeyes  # noqa: F401  (CPU-torchvision fix for this process)
    from openeyes.cli import main as openeyes_main

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    export, world = work / "export", work / "world"
    if not (world / "pope").is_dir():
        openeyes_main(["world", "generate", "--out", str(world), "--only", "pope,mmvp", "--n", str(max(args.n, 60)),
                       "--size", "64"])
    import shutil

    shutil.rmtree(export, ignore_errors=True)
    if openeyes_main(["integrate", "export", "--mllm", args.mllm, "--out", str(export)]) != 0:
        return 1
    original = work / "llava-original-export"
    shutil.rmtree(original, ignore_errors=True)
    if openeyes_main(["integrate", "export-original", "--mllm", args.mllm, "--out", str(original), "--full"]) != 0:
        return 1
    items = world_items(world, args.n)
    items_file = work / "items.jsonl"
    items_file.write_text("".join(json.dumps(item) + "\n" for item in items))
    reference = openeyes_answers(export, items, args.max_new_tokens)
    ok = True
    names = [c for c in args.clients.split(",") if c]
    unknown = [c for c in names if c not in CLIENTS]
    if unknown:
        parser.error(f"unknown client {unknown[0]!r}; choose from {', '.join(CLIENTS)}")
    for name in names:
        if CLIENTS[name][1] == "llava_original" and not args.llava_src:
            print(json.dumps({"client": name, "skipped": "pass --llava-src DIR (a checkout of haotian-liu/LLaVA)"}))
            continue
        started = time.perf_counter()
        result = run_client(name, export, work, items_file, args.max_new_tokens, args.llava_src)
        line = {"client": name, **{k: v for k, v in result.items() if k != "answers"}}
        if "error" not in result:
            line.update(compare(result, reference, items))
        line["wall_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps(line), flush=True)
        weights = result.get("weights") or {}
        ok &= ("error" not in result and weights.get("unmatched") == 0 and not result.get("missing_keys")
               and not result.get("unexpected_keys") and all(line[f"{b}_identical"].split("/")[0] == line[f"{b}_identical"].split("/")[1]
                                                            for b in ("pope", "mmvp"))
               and (result.get("snippet") or {"ran": True}).get("ran", False))
    print(json.dumps({"summary": "all clients identical and fully loaded" if ok else "DIFFERENCES", "mllm": args.mllm,
                      "items_per_bench": args.n, "max_new_tokens": args.max_new_tokens}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
