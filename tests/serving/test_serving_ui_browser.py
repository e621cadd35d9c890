"""The Gradio UI at /ui in a real headless Chromium (Debian ``chromium`` driven by playwright,
no browser download): the page loads and says what its models were trained on, one click on a
world example fills the zero-shot tab and a result appears, an uploaded world image gets a VQA
answer, the "Compare encoders" tab opens on two different operator-listed encoders and shows
where they differ, and a screenshot is saved (to the test's tmp dir and, when
``OPENEYES_SCREENSHOT_DIR`` is set, there too)."""
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXAMPLE_ROWS = "tbody tr, button.gallery-item, .gallery-item"  # gradio's examples table (rows or gallery buttons)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is not installed (Debian package chromium)")


@pytest.fixture()
def world_image(tmp_path) -> Path:
    from openeyes.serving.ui_compare import world_pairs

    image = world_pairs(1, size=128, seed=3)[0][0]  # a rendered world scene
    path = tmp_path / "world.png"
    image.save(path)
    return path


@pytest.fixture()
def browser_page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package drives chromium")
    with sync_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 1000})
        try:
            yield context.new_page()
        finally:
            context.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_ui_zero_shot_and_vqa_in_chromium(server, browser_page, world_image, tmp_path):
    page = browser_page
    page.set_default_timeout(600_000)  # waits follow the page, not the clock
    response = page.goto(server.url + "/ui/", wait_until="domcontentloaded")
    assert response is not None and response.status == 200
    page.get_by_role("tab", name="Embeddings", exact=True).wait_for(state="visible")  # the app has rendered
    for tab in ("Embeddings", "Zero-shot", "Retrieval", "VQA", "Compare encoders"):
        assert page.get_by_role("tab", name=tab, exact=True).count() == 1, tab

    note = page.locator("#models-note").inner_text()
    assert "synthetic world" in note and "--encoder" in note  # what the models know, how to serve a real one
    assert "Serving encoder tiny-clip" in note and "/tmp" not in note  # no absolute paths shown to visitors

    from openeyes.serving.ui_examples import examples

    open_tab(page, "Zero-shot")
    page.locator("#zs-examples").locator(EXAMPLE_ROWS).first.click()  # one click on the first world example
    page.locator("#zs-image img").first.wait_for(state="visible")  # the example image reached the component
    labels = [x.strip() for x in examples()[0].labels.split(",")]
    assert page.locator("#zs-labels textarea").input_value() == examples()[0].labels
    page.locator("#zs-run").click()
    result = page.locator("#zs-out")
    page.wait_for_function(
        "labels => { const el = document.querySelector('#zs-out'); return el && labels.some(l => el.innerText.includes(l)); }",
        arg=labels)
    assert any(label in result.inner_text() for label in labels)
    assert "%" in result.inner_text()  # confidences are shown

    open_tab(page, "VQA")
    page.locator("#vqa-image input[type=file]").set_input_files(str(world_image))
    page.locator("#vqa-image img").first.wait_for(state="visible")
    page.locator("#vqa-question textarea").fill("What color is the circle?")
    page.locator("#vqa-run").click()
    bot = page.locator("#vqa-chat .bot, #vqa-chat [data-testid='bot']").last
    bot.wait_for(state="visible")
    page.wait_for_function("() => { const el = document.querySelector('#vqa-chat'); "
                           "return el && el.innerText.includes('What color is the circle?') && "
                           "el.innerText.replace('What color is the circle?', '').trim().length > 0; }")
    assert bot.inner_text().strip()  # the model's answer (random weights: any text, or '(empty)')

    open_tab(page, "Compare encoders")
    base = page.locator("#cmp-base input").input_value()
    enhanced = page.locator("#cmp-enhanced input").input_value()
    assert (base, enhanced) == ("tiny-clip", "other-clip")  # the served encoder vs the one the operator listed
    page.locator("#cmp-run").click()
    page.wait_for_function("() => { const el = document.querySelector('#cmp-summary'); "
                           "return el && el.innerText.includes('Pairs where they differ'); }")

    open_tab(page, "VQA")  # the screenshot shows the answer
    shot = tmp_path / "openeyes-ui.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("OPENEYES_SCREENSHOT_DIR"):
        target = Path(os.environ["OPENEYES_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)
