"""The Gradio UI at ``/ui``: embeddings/similarity, zero-shot, retrieval gallery, VQA chat, and
"compare encoders" (two encoders side by side on MMVP-style pairs from the synthetic world).

Callbacks call the same ``Runtime`` the HTTP routes use and validate with the API's own checks
(``serving.limits``, ``serving.api``): the same image formats and pixel limits, text and label
caps, metadata cap and top_k bound. The compare view offers only the encoders the operator
listed at start (``serving.compare_encoders``). Example world images (``serving.ui_examples``)
fill each tab with one click. ``mount_ui`` uses gradio's own ``gr.mount_gradio_app`` on the
FastAPI app (BentoML's mount helper skips gradio setup and serves the page as HTTP 500 with
gradio 6.31; see ../shared/ENVIRONMENT.md).
"""
from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import uuid
from typing import Any

from openeyes.serving.api import MAX_METADATA_CHARS, AppState, bounded, check_metadata, check_top_k, classify, off_loop, vqa_job
from openeyes.serving.errors import ApiError
from openeyes.serving.limits import check_texts, image_from_bytes, image_from_string
from openeyes.serving.runtime import ServeConfig

UI_PATH = "/ui"
THUMBNAIL_SIDES = (96, 64, 48, 32, 24)  # retrieval thumbnails kept in index metadata: the largest that fits its cap
MAX_COMPARE_PAIRS = 45  # world pairs per compare run (5 per MMVP pattern)
VQA_MAX_NEW_TOKENS = 32  # answer length in the VQA tab



def ui_errors(fn):
    """Run a callback; the API's errors (and a missing runtime) become the message the visitor sees."""

    @functools.wraps(fn)
    async def wrapper(*args):
        import gradio as gr

        try:
            return await fn(*args)
        except ApiError as problem:
            raise gr.Error(problem.message) from None

    return wrapper


def read_image(path: Any, runtime: Any, param: str = "image") -> Any:
    """An uploaded file (gradio hands over its path, undecoded) -> RGB image, through the API's checks."""
    if path is None:
        raise ApiError(400, f"give an {param} (upload one or click an example)", param=param)
    with open(path, "rb") as handle:
        data = handle.read(runtime.limits.max_image_bytes + 1)
    return image_from_bytes(data, runtime.limits, param)


def thumbnail_uri(image: Any, side: int, fmt: str) -> str:
    thumb = image.copy()
    thumb.thumbnail((side, side))
    buffer = io.BytesIO()
    thumb.save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def row_metadata(image: Any, caption: str) -> dict:
    """{"caption", "thumbnail"} within the API's metadata cap: the largest thumbnail that fits, else 413."""
    metadata = {"caption": caption}
    check_metadata(metadata, "caption")
    for side in THUMBNAIL_SIDES:
        for fmt in ("PNG", "JPEG"):
            candidate = {**metadata, "thumbnail": thumbnail_uri(image, side, fmt)}
            if len(json.dumps(candidate)) <= MAX_METADATA_CHARS:
                return candidate
    raise ApiError(413, f"the caption leaves no room for a thumbnail in {MAX_METADATA_CHARS} characters of metadata", param="caption")


def thumbnail_image(metadata: Any, runtime: Any) -> Any:
    """The row's thumbnail as an image, or None (rows added through the API may hold anything)."""
    uri = metadata.get("thumbnail") if isinstance(metadata, dict) else None
    if not isinstance(uri, str) or not uri.startswith("data:image/"):
        return None
    try:
        return image_from_string(uri, runtime.limits, "thumbnail")
    except ApiError:
        return None


def models_note(config: ServeConfig) -> str:
    """What the page says about the models it serves (local paths by their base name only)."""
    from openeyes.serving.compare_encoders import display_label

    mllm = {"auto": "zoo:tiny-llava (when built)", "none": "", "": ""}.get(config.mllm, display_label(config.mllm))
    served = f"Serving encoder `{display_label(config.encoder)}`" + (f", MLLM `{mllm}`." if mllm else ", no MLLM (no VQA).")
    return (served + " The default models (`zoo:tiny-clip`, `zoo:tiny-llava` and the enhanced `zoo:` encoders) are tiny and "
            "were trained only on openeyes' **synthetic world** (coloured shapes, arrows, glyphs on plain or noisy "
            "backgrounds): try the example images under each tab; on photos their answers mean little. To serve a real "
            "checkpoint: `openeyes serve --encoder DIR_OR_HUB_ID` (an HF CLIP/SigLIP folder or hub id, "
            "`open_clip:ARCH@weights.bin`, an `openeyes` encoder artifact) with `--mllm DIR` (an `openeyes integrate export` "
            "folder) or `--mllm http://HOST:PORT` (an OpenAI-compatible engine such as vLLM).")


def build_blocks(state: AppState, config: ServeConfig):
    import gradio as gr

    from openeyes.serving.compare_encoders import CompareEncoders
    from openeyes.serving.ui_compare import compare_view, opening_view, world_pairs
    from openeyes.serving.ui_examples import EXAMPLES_DIR, ZERO_SHOT_TEMPLATE, examples
    from openeyes.world.pairs import PATTERNS

    found = examples()
    files = [str(EXAMPLES_DIR / e.file) for e in found]
    offered = CompareEncoders(config.encoder, config.compare_encoders, lambda: None, lambda spec: None)  # labels only

    @ui_errors
    async def similarity(image, texts: str):
        runtime = state.require()
        picture = await off_loop(read_image, image, runtime)
        lines = check_texts([t.strip() for t in (texts or "").splitlines() if t.strip()], runtime.limits, "texts")
        image_emb = await bounded(runtime, runtime.embed_images([picture]))  # [1, D]
        text_emb = await bounded(runtime, runtime.embed_texts(lines))  # [T, D]
        cosines = (text_emb @ image_emb[0]).tolist()
        return [[text, round(c, 4)] for text, c in zip(lines, cosines)]

    @ui_errors
    async def zero_shot(image, labels: str, template: str):
        runtime = state.require()
        picture = await off_loop(read_image, image, runtime)
        names = [x.strip() for x in (labels or "").split(",") if x.strip()]
        result = await classify(runtime, [picture], names, [template or ZERO_SHOT_TEMPLATE])
        return result["results"][0]["probabilities"]

    @ui_errors
    async def index_add(image, caption: str):
        runtime = state.require()
        picture = await off_loop(read_image, image, runtime)
        caption = (caption or "").strip()
        if caption:
            check_texts([caption], runtime.limits, "caption")
        metadata = row_metadata(picture, caption)
        vector = await bounded(runtime, runtime.embed_images([picture]))  # [1, D]
        await asyncio.to_thread(runtime.index.add, [uuid.uuid4().hex], vector, [metadata])
        return f"{runtime.index.count} items in the index"

    @ui_errors
    async def index_search(query: str, top_k: float):
        runtime = state.require()
        text = check_texts([(query or "").strip()], runtime.limits, "query")
        k = check_top_k(runtime, int(top_k))
        vector = await bounded(runtime, runtime.embed_texts(text))  # [1, D]
        gallery = []
        for hit in await asyncio.to_thread(runtime.index.search, vector[0], k):
            image = thumbnail_image(hit["metadata"], runtime)
            if image is not None:
                gallery.append((image, f"{(hit['metadata'] or {}).get('caption', '')} ({hit['score']:.3f})"))
        return gallery

    @ui_errors
    async def vqa(image, question: str, history: list):
        runtime = state.require()
        runtime.require_mllm()
        picture = await off_loop(read_image, image, runtime)
        job = await off_loop(vqa_job, runtime, picture, question or "", VQA_MAX_NEW_TOKENS, 0.0)
        answer = await bounded(runtime, runtime.generate(job))
        history = list(history or []) + [{"role": "user", "content": question}, {"role": "assistant", "content": answer or "(empty)"}]
        return history, question

    @ui_errors
    async def compare(base: str, enhanced: str, n_pairs: float, patterns: list | None = None):
        runtime = state.require()
        encoders = {"base": runtime.compare.get(base, "base"), "enhanced": runtime.compare.get(enhanced, "enhanced")}
        try:
            count = int(n_pairs)
        except (TypeError, ValueError):
            raise ApiError(400, "'n_pairs' must be a number", param="n_pairs") from None
        if not 1 <= count <= MAX_COMPARE_PAIRS:
            raise ApiError(400, f"'n_pairs' must be between 1 and {MAX_COMPARE_PAIRS}, got {count}", param="n_pairs")
        chosen = list(patterns) if patterns else list(PATTERNS)
        if any(p not in PATTERNS for p in chosen):
            raise ApiError(400, f"'patterns' must be among: {', '.join(PATTERNS)}", param="patterns")
        pairs = await asyncio.to_thread(world_pairs, count, 64, 0, chosen)
        return await asyncio.to_thread(compare_view, encoders, pairs)

    base_default, enhanced_default = offered.defaults()
    opening: dict[tuple[str, str], tuple] = {}  # (base, enhanced) -> the compare tab's opening view (the pairs are fixed)

    async def open_compare():
        """The compare tab on page load: the default pair on the patterns where they differ (nothing when there is one encoder)."""
        unchanged = (gr.update(), gr.update(), gr.update(), gr.update())
        runtime = state.runtime
        if base_default == enhanced_default or runtime is None or runtime.compare is None:
            return unchanged
        key = (base_default, enhanced_default)
        if key not in opening:
            try:
                encoders = {"base": runtime.compare.get(base_default, "base"), "enhanced": runtime.compare.get(enhanced_default, "enhanced")}
            except ApiError:  # a listed encoder that does not load: the tab still works for the others
                return unchanged
            pairs = await asyncio.to_thread(world_pairs, MAX_COMPARE_PAIRS, 64, 0, list(PATTERNS))
            opening[key] = await asyncio.to_thread(opening_view, encoders, pairs)
        table_rows, gallery_items, text, differ = opening[key]
        return table_rows, gallery_items, "Opening view, every pattern compared: " + text, differ

    with gr.Blocks(title="openeyes") as blocks:
        gr.Markdown("# openeyes\nEmbeddings, zero-shot classification, retrieval, VQA and encoder comparison.\n\n"
                    + models_note(config), elem_id="models-note")
        with gr.Tab("Embeddings"):
            with gr.Row():
                sim_image = gr.Image(type="filepath", image_mode=None, label="image", elem_id="sim-image")
                sim_texts = gr.Textbox(lines=4, label="texts (one per line)", value=found[0].texts)
            sim_out = gr.Dataframe(headers=["text", "cosine"], label="similarity")
            gr.Examples([[f, e.texts] for f, e in zip(files, found)], [sim_image, sim_texts], label="world examples")
            gr.Button("Compare", elem_id="sim-run").click(similarity, [sim_image, sim_texts], sim_out, api_name="similarity")
        with gr.Tab("Zero-shot"):
            with gr.Row():
                zs_image = gr.Image(type="filepath", image_mode=None, label="image", elem_id="zs-image")
                with gr.Column():
                    zs_labels = gr.Textbox(label="labels (comma-separated)", value=found[0].labels, elem_id="zs-labels")
                    zs_template = gr.Textbox(label="template", value=ZERO_SHOT_TEMPLATE)
            zs_out = gr.Label(label="probabilities", elem_id="zs-out")
            gr.Examples([[f, e.labels] for f, e in zip(files, found)], [zs_image, zs_labels], label="world examples",
                        elem_id="zs-examples")
            gr.Button("Classify", elem_id="zs-run").click(zero_shot, [zs_image, zs_labels, zs_template], zs_out, api_name="zero_shot")
        with gr.Tab("Retrieval"):
            with gr.Row():
                add_image = gr.Image(type="filepath", image_mode=None, label="image to add", elem_id="add-image")
                with gr.Column():
                    add_caption = gr.Textbox(label="caption", value=found[0].caption)
                    add_status = gr.Markdown()
                    gr.Button("Add to index").click(index_add, [add_image, add_caption], add_status, api_name="index_add")
            gr.Examples([[f, e.caption] for f, e in zip(files, found)], [add_image, add_caption], label="world examples")
            with gr.Row():
                query = gr.Textbox(label="text query", value="a photo of the " + found[0].caption[len("the "):] + ".")
                top_k = gr.Slider(1, 50, value=8, step=1, label="top k")
            gallery = gr.Gallery(label="results", columns=6)
            gr.Button("Search").click(index_search, [query, top_k], gallery, api_name="index_search")
        with gr.Tab("VQA"):
            with gr.Row():
                vqa_image = gr.Image(type="filepath", image_mode=None, label="image", elem_id="vqa-image")
                chatbot = gr.Chatbot(label="chat", elem_id="vqa-chat")
            vqa_question = gr.Textbox(label="question", info="in the world's formats: zoo:tiny-llava answers presence questions "
                                      "such as 'Is there a star in the image?' about 80 % right; colours and counts far less",
                                      value=found[0].question, lines=2, elem_id="vqa-question")
            gr.Examples([[f, e.question] for f, e in zip(files, found)], [vqa_image, vqa_question], label="world examples",
                        elem_id="vqa-examples")
            gr.Button("Ask", elem_id="vqa-run").click(vqa, [vqa_image, vqa_question, chatbot], [chatbot, vqa_question], api_name="vqa")
        with gr.Tab("Compare encoders"):
            gr.Markdown("Two encoders on MMVP-style pairs rendered from the world: a pair is right when each statement "
                        "picks its own image. Pairs where the encoders disagree come first. The tab opens on the first "
                        "two offered encoders (by default the base `zoo:tiny-clip` and the DCR encoder), kept to the "
                        "patterns where they differ. Only the encoders this server was started with are offered "
                        "(`openeyes serve --compare-encoders A,B`).")
            with gr.Row():
                base = gr.Dropdown(offered.labels, value=base_default, label="base encoder", elem_id="cmp-base")
                enhanced = gr.Dropdown(offered.labels, value=enhanced_default, label="enhanced encoder", elem_id="cmp-enhanced")
                n_pairs = gr.Slider(1, MAX_COMPARE_PAIRS, value=18, step=1, label="pairs")
            patterns = gr.CheckboxGroup(list(PATTERNS), value=list(PATTERNS), label="MMVP patterns")
            summary = gr.Markdown(elem_id="cmp-summary")
            table = gr.Dataframe(headers=["pattern", "statement A", "statement B", "base", "enhanced", "differ"], label="per pair")
            pair_gallery = gr.Gallery(label="pairs", columns=6)
            gr.Button("Compare", elem_id="cmp-run").click(compare, [base, enhanced, n_pairs, patterns],
                                                          [table, pair_gallery, summary], api_name="compare")
        blocks.load(open_compare, None, [table, pair_gallery, summary, patterns], api_name="compare_opening")
    return blocks


def mount_ui(app: Any, state: AppState, config: ServeConfig) -> Any:
    """Mount the UI at ``/ui`` on the FastAPI ``app`` with gradio's own mount (uploads capped like the API's images)."""
    import gradio as gr

    from openeyes.serving.ui_examples import EXAMPLES_DIR

    return gr.mount_gradio_app(app, build_blocks(state, config), path=UI_PATH, allowed_paths=[str(EXAMPLES_DIR)],
                               max_file_size=config.limits.max_image_bytes)
