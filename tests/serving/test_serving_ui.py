"""The Gradio UI over real HTTP (gradio's own client against its API under /ui): it loads only
the encoders the operator listed, keeps the API's limits (image formats, metadata cap, text caps),
and ships example world images. The browser test is test_serving_ui_browser.py."""
from __future__ import annotations

import json

import pytest

from conftest import build_encoder_dir, png_bytes


@pytest.fixture(scope="module")
def ui(server):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(server.url + "/ui/", verbose=False)


def ui_error(ui, api_name: str, **inputs) -> str:
    """The message the UI answers with; fails the test if the call succeeds."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        ui.predict(api_name=api_name, **inputs)
    return str(caught.value)


def test_compare_loads_no_encoder_the_operator_did_not_list(ui, artifacts, tmp_path_factory):
    unlisted = build_encoder_dir(tmp_path_factory.mktemp("unlisted"), name="unlisted-clip", seed=2)  # a real, loadable encoder
    missing = str(tmp_path_factory.mktemp("gone") / "no-such-encoder")
    messages = {}
    for spec in (unlisted, missing, "open_clip:ViT-B-32@/etc/passwd", "random:vit-b-32", artifacts["other_encoder"]):
        messages[spec] = ui_error(ui, "/compare", base=spec, enhanced=spec, n_pairs=3).replace(spec, "SPEC")
    # the same answer (up to the echoed value) whether or not the file exists: nothing about the path leaks
    assert len(set(messages.values())) == 1, messages
    message = messages[unlisted]
    assert "other-clip" in message and "tiny-clip" in message and "/" not in message


def test_compare_runs_the_listed_encoders(ui):
    table, gallery, summary = ui.predict(base="tiny-clip", enhanced="other-clip", n_pairs=4, patterns=["Color", "State"],
                                         api_name="/compare")
    rows = table["data"]
    assert len(rows) == 4 and {row[0] for row in rows} == {"Color", "State"}
    assert all(row[3] in ("right", "wrong") and row[4] in ("right", "wrong") for row in rows)
    assert len(gallery) == 8 and "pairs right" in summary
    ui_error(ui, "/compare", base="tiny-clip", enhanced="other-clip", n_pairs=10_000)  # at most 45 pairs


def test_compare_tab_opens_on_the_default_pair_kept_to_the_patterns_where_they_differ(ui):
    table, gallery, summary, patterns = ui.predict(api_name="/compare_opening")
    rows = table["data"]
    full, _, _ = ui.predict(base="tiny-clip", enhanced="other-clip", n_pairs=45, api_name="/compare")  # every pattern, same pairs
    differ = {row[0] for row in full["data"] if row[5] == "yes"}
    assert differ, "two differently seeded encoders should disagree somewhere"
    assert set(patterns) == differ and {row[0] for row in rows} == differ
    assert rows == [row for row in full["data"] if row[0] in differ]  # the same verdicts, disagreements first
    assert len(gallery) == 2 * len(rows) and summary.startswith("Opening view")
    assert ui.predict(api_name="/compare_opening")[0]["data"] == rows  # cached: the same view for the next visitor


def test_ui_index_add_keeps_the_api_metadata_cap(ui, server, tmp_path):
    from gradio_client import handle_file

    noisy = tmp_path / "noisy.png"
    noisy.write_bytes(png_bytes((128, 128)))  # random pixels: the largest thumbnails
    with server.client() as http:
        before = http.get("/index/count").json()["count"]
        image = handle_file(str(noisy))
        assert "characters" in ui_error(ui, "/index_add", image=image, caption="x" * 100_000)
        assert "4096" in ui_error(ui, "/index_add", image=image, caption="\u2603" * 1500)  # 9,000 chars as JSON
        assert http.get("/index/count").json()["count"] == before  # nothing was added
        assert "items in the index" in ui.predict(image=image, caption="the blue circle", api_name="/index_add")
        hits = http.post("/index/search", json={"text": "the blue circle", "top_k": 50}).json()["results"]
        from openeyes.serving.api import MAX_METADATA_CHARS

        rows = [hit for hit in hits if (hit["metadata"] or {}).get("caption") == "the blue circle"]
        assert rows and all(len(json.dumps(hit["metadata"])) <= MAX_METADATA_CHARS for hit in rows)
        assert rows[0]["metadata"]["thumbnail"].startswith("data:image/")


def test_ui_refuses_what_the_api_refuses(ui, server, tmp_path):
    from gradio_client import handle_file

    tiff = tmp_path / "scene.tiff"
    tiff.write_bytes(png_bytes((32, 32), fmt="TIFF"))
    with server.client() as http:
        api = http.post("/embed/images/upload", files={"files": ("scene.tiff", tiff.read_bytes(), "image/tiff")})
    assert 400 <= api.status_code < 500
    for api_name, inputs in (("/zero_shot", {"labels": "circle, star", "template": "a photo of the {}."}),
                             ("/similarity", {"texts": "a star"}), ("/vqa", {"question": "Is there a star?", "history": []}),
                             ("/index_add", {"caption": "tiff"})):
        assert "allowed formats" in ui_error(ui, api_name, image=handle_file(str(tiff)), **inputs), api_name
    square = tmp_path / "ok.png"
    square.write_bytes(png_bytes((32, 32)))
    too_many = ", ".join(f"label {i}" for i in range(300))
    assert "at most 256" in ui_error(ui, "/zero_shot", image=handle_file(str(square)), labels=too_many, template="{}")
    long_text = "a star " * 400
    assert "characters" in ui_error(ui, "/similarity", image=handle_file(str(square)), texts=long_text)
    ui_error(ui, "/index_search", query="a star", top_k=100_000)  # the slider's bound
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(9 * 1024 * 1024))  # over the API's 8 MiB per image: refused at upload
    with pytest.raises(Exception, match="413|too large|size"):
        ui.predict(image=handle_file(str(big)), labels="circle, star", template="{}", api_name="/zero_shot")


def test_ui_examples_are_world_images_with_world_inputs(ui):
    from gradio_client import handle_file

    from openeyes.serving.ui_examples import EXAMPLES_DIR, examples

    found = examples()
    assert len(found) >= 3
    for example in found:
        path = EXAMPLES_DIR / example.file
        assert path.stat().st_size < 32_000
        assert example.question.startswith("Is there ") and example.caption[len("the "):] in example.labels
        result = ui.predict(image=handle_file(str(path)), labels=example.labels, template="a photo of the {}.",
                            api_name="/zero_shot")
        assert {c["label"] for c in result["confidences"]} == {x.strip() for x in example.labels.split(",")}


def test_committed_examples_equal_a_fresh_render(tmp_path):
    from openeyes.serving.ui_examples import EXAMPLES_DIR, render_examples

    for path in render_examples(tmp_path):
        assert path.read_bytes() == (EXAMPLES_DIR / path.name).read_bytes(), path.name


def test_compare_cache_is_bounded_and_defaults_to_base_vs_enhanced(artifacts, tmp_path):
    from openeyes.serving.compare_encoders import CompareEncoders
    from openeyes.serving.runtime import EncoderRuntime

    specs = [artifacts["other_encoder"]] + [build_encoder_dir(tmp_path, name=f"extra-{i}", seed=10 + i) for i in range(2)]
    served = EncoderRuntime(artifacts["encoder"])
    offered = CompareEncoders(artifacts["encoder"], specs, lambda: served, EncoderRuntime, cache_size=1)
    assert offered.labels == ["other-clip", "extra-0", "extra-1", "tiny-clip"]
    assert offered.defaults() == ("other-clip", "extra-0")
    for label in ("other-clip", "extra-0", "extra-1", "other-clip"):
        assert offered.get(label).dim == 24
        assert len(offered.loaded) == 1
    assert offered.get("tiny-clip") is served and offered.loaded == [artifacts["other_encoder"]]

    from openeyes.zoo_registry import entries

    zoo = CompareEncoders("zoo:tiny-clip", ["auto"], lambda: served, EncoderRuntime)
    dcr = "zoo:world-dcr" if entries()["world-dcr"].built else "zoo:tiny-dcr"  # the strongest DCR encoder built
    assert zoo.defaults() == ("zoo:tiny-clip", dcr)  # base vs the DCR encoder (issue 19.6)
    only = CompareEncoders("zoo:tiny-clip", ["none"], lambda: served, EncoderRuntime)
    assert only.labels == ["zoo:tiny-clip"] and only.defaults() == ("zoo:tiny-clip", "zoo:tiny-clip")


def test_ui_page_shows_no_model_paths(server, artifacts):
    with server.client() as http:
        config = http.get("/ui/config")
    assert config.status_code == 200
    assert str(artifacts["root"]) not in config.text  # encoders are offered by label, the note names base names
    assert "synthetic world" in config.text and "other-clip" in config.text
