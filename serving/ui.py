"""The Gradio UI at ``/ui``: embeddings/similarity, zero-shot, retrieval gallery, VQA chat, and
"compare encoders" (two encoders side by side on MMVP-style pairs from the synthetic world).

Callbacks call the same ``Runtime`` the HTTP routes use. ``mount_ui`` uses gradio's own
``gr.mount_gradio_app`` on the FastAPI app (BentoML's mount helper skips gradio setup and
serves the page as HTTP 500 with gradio 6.31; see ../shared/ENVIRONMENT.md).
"""
from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from openeyes.serving.api import AppState
from openeyes.serving.errors import ApiError
from openeyes.serving.runtime import ServeConfig

UI_PATH = "/ui"
THUMBNAIL_SIDE = 96  # retrieval gallery thumbnails kept in index metadata


def _runtime(state: AppState):
    import gradio as gr

    try:
        return state.require()
    except ApiError as problem:
        raise gr.Error(problem.message)


def _thumbnail_uri(image) -> str:
    thumb = image.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _image_from_uri(uri: str):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def world_pairs(n: int, size: int = 64, seed: int = 0) -> list[tuple[Any, Any, str, str, str]]:
    """``n`` MMVP-style pairs (image A, image B, statement A, statement B, pattern), cycling the patterns."""
    from PIL import Image

    from openeyes.world.config import WorldConfig
    from openeyes.world.pairs import PATTERNS, build_pair
    from openeyes.world.render import render

    config = WorldConfig(image_size=size)
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        pattern = PATTERNS[i % len(PATTERNS)]
        pair = build_pair(pattern, rng, config)
        pairs.append((Image.fromarray(render(pair.scene_a, config)), Image.fromarray(render(pair.scene_b, config)),
                      pair.statement_a, pair.statement_b, pattern))
    return pairs


def compare_on_pairs(encoders: dict[str, Any], pairs: list[tuple]) -> list[dict[str, Any]]:
    """For each pair and encoder, MMVP-VLM's verdict: both statements pick their own image."""
    import torch

    from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import pair_logits, predict_pair

    rows = [{"pattern": p[4], "statement_a": p[2], "statement_b": p[3]} for p in pairs]
    for label, encoder in encoders.items():
        images = encoder.embed_images([image for p in pairs for image in p[:2]])  # [2P, D]
        texts = encoder.embed_texts([text for p in pairs for text in p[2:4]])  # [2P, D]
        logits = pair_logits(torch.from_numpy(images).view(len(pairs), 2, -1), torch.from_numpy(texts).view(len(pairs), 2, -1),
                             encoder.logit_scale)  # [P, 2, 2]
        for row, pair_logit in zip(rows, logits):
            first, second, _, _ = predict_pair(pair_logit)
            row[label] = "right" if (first, second) == ("img1", "img2") else "wrong"
    return rows


def build_blocks(state: AppState, config: ServeConfig):
    import gradio as gr

    async def similarity(image, texts: str):
        runtime = _runtime(state)
        lines = [t.strip() for t in (texts or "").splitlines() if t.strip()]
        if image is None or not lines:
            raise gr.Error("give an image and at least one text (one per line)")
        image_emb = await runtime.embed_images([image.convert("RGB")])
        text_emb = await runtime.embed_texts(lines[:32])
        cosines = (text_emb @ image_emb[0]).tolist()
        return [[text, round(c, 4)] for text, c in zip(lines, cosines)]

    async def zero_shot(image, labels: str, template: str):
        runtime = _runtime(state)
        names = [x.strip() for x in (labels or "").split(",") if x.strip()]
        if image is None or not names:
            raise gr.Error("give an image and comma-separated labels")
        probs = await runtime.zero_shot([image.convert("RGB")], names[:64], [template or "a photo of a {}."])
        return {name: float(p) for name, p in zip(names, probs[0])}

    async def index_add(image, caption: str):
        runtime = _runtime(state)
        if image is None:
            raise gr.Error("give an image to add")
        image = image.convert("RGB")
        vector = await runtime.embed_images([image])
        import uuid

        runtime.index.add([uuid.uuid4().hex], vector, [{"caption": caption or "", "thumbnail": _thumbnail_uri(image)}])
        return f"{runtime.index.count} items in the index"

    async def index_search(query: str, top_k: float):
        runtime = _runtime(state)
        if not (query or "").strip():
            raise gr.Error("type a query")
        vector = await runtime.embed_texts([query.strip()])
        gallery = []
        for hit in runtime.index.search(vector[0], int(top_k)):
            meta = hit["metadata"] or {}
            if "thumbnail" in meta:
                gallery.append((_image_from_uri(meta["thumbnail"]), f"{meta.get('caption', '')} ({hit['score']:.3f})"))
        return gallery

    async def vqa(image, question: str, history: list):
        runtime = _runtime(state)
        if runtime.mllm is None:
            raise gr.Error("no MLLM is configured on this server (start it with --mllm DIR)")
        if image is None or not (question or "").strip():
            raise gr.Error("give an image and a question")
        from openeyes.mllm.protocol import as_request
        from openeyes.serving.runtime import GenerationJob

        answer = await runtime.generate(GenerationJob(as_request((image.convert("RGB"), question)), max_new_tokens=32))
        history = list(history or []) + [{"role": "user", "content": question}, {"role": "assistant", "content": answer or "(empty)"}]
        return history, ""

    def compare(base: str, enhanced: str, n_pairs: float):
        runtime = _runtime(state)
        try:
            encoders = {"base": runtime.extra_encoder(base.strip()), "enhanced": runtime.extra_encoder(enhanced.strip())}
        except ApiError as problem:
            raise gr.Error(problem.message)
        pairs = world_pairs(int(n_pairs))
        rows = compare_on_pairs(encoders, pairs)
        table = [[r["pattern"], r["statement_a"], r["statement_b"], r["base"], r["enhanced"]] for r in rows]
        gallery = [(img, f"{r['pattern']} {side}") for p, r in zip(pairs, rows) for img, side in ((p[0], "A"), (p[1], "B"))]
        score = {k: sum(r[k] == "right" for r in rows) for k in ("base", "enhanced")}
        return table, gallery, f"pairs right: base {score['base']}/{len(rows)}, enhanced {score['enhanced']}/{len(rows)}"

    compare_default = config.compare_encoders[0] if config.compare_encoders else config.encoder
    with gr.Blocks(title="openeyes") as blocks:
        gr.Markdown("# openeyes\nEmbeddings, zero-shot classification, retrieval, VQA and encoder comparison.")
        with gr.Tab("Embeddings"):
            with gr.Row():
                sim_image = gr.Image(type="pil", label="image", elem_id="sim-image")
                sim_texts = gr.Textbox(lines=4, label="texts (one per line)", value="a red circle\na blue square")
            sim_out = gr.Dataframe(headers=["text", "cosine"], label="similarity")
            gr.Button("Compare", elem_id="sim-run").click(similarity, [sim_image, sim_texts], sim_out)
        with gr.Tab("Zero-shot"):
            with gr.Row():
                zs_image = gr.Image(type="pil", label="image", elem_id="zs-image")
                with gr.Column():
                    zs_labels = gr.Textbox(label="labels (comma-separated)", value="circle, square, star", elem_id="zs-labels")
                    zs_template = gr.Textbox(label="template", value="a photo of a {}.")
            zs_out = gr.Label(label="probabilities", elem_id="zs-out")
            gr.Button("Classify", elem_id="zs-run").click(zero_shot, [zs_image, zs_labels, zs_template], zs_out)
        with gr.Tab("Retrieval"):
            with gr.Row():
                add_image = gr.Image(type="pil", label="image to add")
                with gr.Column():
                    add_caption = gr.Textbox(label="caption")
                    add_status = gr.Markdown()
                    gr.Button("Add to index").click(index_add, [add_image, add_caption], add_status)
            with gr.Row():
                query = gr.Textbox(label="text query")
                top_k = gr.Slider(1, 50, value=8, step=1, label="top k")
            gallery = gr.Gallery(label="results", columns=6)
            gr.Button("Search").click(index_search, [query, top_k], gallery)
        with gr.Tab("VQA"):
            with gr.Row():
                vqa_image = gr.Image(type="pil", label="image", elem_id="vqa-image")
                chatbot = gr.Chatbot(label="chat", elem_id="vqa-chat")
            vqa_question = gr.Textbox(label="question", value="What color is the circle?", elem_id="vqa-question")
            gr.Button("Ask", elem_id="vqa-run").click(vqa, [vqa_image, vqa_question, chatbot], [chatbot, vqa_question])
        with gr.Tab("Compare encoders"):
            with gr.Row():
                base = gr.Textbox(label="base encoder", value=config.encoder)
                enhanced = gr.Textbox(label="enhanced encoder", value=compare_default)
                n_pairs = gr.Slider(3, 45, value=9, step=1, label="pairs")
            summary = gr.Markdown()
            table = gr.Dataframe(headers=["pattern", "statement A", "statement B", "base", "enhanced"], label="per pair")
            pair_gallery = gr.Gallery(label="pairs", columns=6)
            gr.Button("Compare").click(compare, [base, enhanced, n_pairs], [table, pair_gallery, summary])
    return blocks


def mount_ui(app: Any, state: AppState, config: ServeConfig) -> Any:
    """Mount the UI at ``/ui`` on the FastAPI ``app`` with gradio's own mount."""
    import gradio as gr

    return gr.mount_gradio_app(app, build_blocks(state, config), path=UI_PATH)
