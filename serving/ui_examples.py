"""The UI's example images: a few small PNGs rendered from the synthetic world (the world the
default zoo models were trained on), with inputs in the world's own formats for each tab.

The PNGs are committed under ``serving/examples/``; ``python -m openeyes.serving.ui_examples``
re-renders them (deterministic: a test checks the committed files equal a fresh render).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SIZE = 128  # pixels per side (the zoo encoders resize to their own input size)
SEED = 7  # world seed of the example scenes (split "test": none of them was trained on)
SHORT = "\nAnswer the question using a single word or phrase."  # the world's (and LLaVA's) short-answer suffix
ZERO_SHOT_TEMPLATE = "a photo of the {}."  # the first of the world's classification templates


@dataclass(frozen=True)
class Example:
    """One example image and what each tab asks about it."""

    file: str  # PNG name under EXAMPLES_DIR
    labels: str  # zero-shot labels, comma-separated (the true one among them)
    texts: str  # similarity texts, one per line
    question: str  # VQA question in the world's POPE format (yes/no presence)
    caption: str  # caption for the retrieval index


def _single(index: int):
    """A single-object classification scene (class = index mod 88) and its class name."""
    from openeyes.world.config import WorldConfig
    from openeyes.world.dataset import WorldClassification

    item = WorldClassification(SEED, "test", size=SIZE, length=index + 1, config=WorldConfig(image_size=SIZE))[index]
    return item["image"], item["text"]


# (classification index, other labels offered besides the true class, question noun)
SPECS = (
    (5, ("blue square", "red circle", "green star"), "circle"),  # blue circle: "Is there a circle" -> Yes
    (28, ("yellow star", "green heart", "blue circle"), "circle"),  # green star: "Is there a circle" -> No
    (34, ("red heart", "orange square", "purple moon"), "heart"),  # orange heart -> Yes
    (81, ("dark red ring", "yellow moon", "cyan cross"), "square"),  # dark red moon -> No
)


def examples() -> list[Example]:
    """The examples with their inputs (the image files are read from EXAMPLES_DIR)."""
    from openeyes.world.vocab import with_article

    found = []
    for index, others, noun in SPECS:
        name = _class_name(index)
        labels = sorted((name, *others))
        found.append(Example(file=f"world-{index:02d}-{name.replace(' ', '-')}.png", labels=", ".join(labels),
                             texts="\n".join(f"a photo of the {x}." for x in labels),
                             question=f"Is there {with_article(noun)} in the image?{SHORT}", caption=f"the {name}"))
    return found


def _class_name(index: int) -> str:
    from openeyes.world.vocab import CLASSIFICATION_CLASSES

    return CLASSIFICATION_CLASSES[index % len(CLASSIFICATION_CLASSES)]


def render_examples(folder: Path = EXAMPLES_DIR) -> list[Path]:
    """Render every example PNG into ``folder``."""
    import io

    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for example, (index, _, _) in zip(examples(), SPECS):
        image, _ = _single(index)
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format="PNG", optimize=True)
        (folder / example.file).write_bytes(buffer.getvalue())
        written.append(folder / example.file)
    return written


if __name__ == "__main__":
    for path in render_examples():
        print(path, path.stat().st_size, "bytes")
