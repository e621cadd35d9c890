"""The world's vocabulary: shapes, colours, themes, words, and the classification classes.

Plain module constants (registries are dicts) so every other module and layer reads the same
names. ``noun`` turns an object's category into the word used in captions, questions and
POPE (a hexagon with 8 sides is an "octagon").
"""
from __future__ import annotations

# Colour name -> RGB. Near pairs (red/orange/dark red, blue/cyan, purple/pink) are deliberate.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 36, 36),
    "dark red": (122, 16, 26),
    "orange": (240, 128, 22),
    "yellow": (226, 192, 6),
    "green": (42, 158, 62),
    "blue": (36, 72, 214),
    "cyan": (22, 178, 214),
    "purple": (128, 52, 176),
    "pink": (238, 122, 186),
    "brown": (124, 82, 42),
}
COLOR_NAMES: list[str] = list(COLORS)
NEAR_COLOR_PAIRS: list[tuple[str, str]] = [
    ("red", "orange"), ("red", "dark red"), ("blue", "cyan"), ("purple", "pink"), ("orange", "yellow"),
]

# Drawable categories. Glyph categories carry a character instead of a fill state.
SHAPES: list[str] = [
    "circle", "square", "triangle", "star", "heart", "cross", "ring",
    "arrow", "diamond", "hexagon", "moon", "letter", "digit",
]
GLYPH_SHAPES = ("letter", "digit")
GLYPHS: dict[str, str] = {"letter": "EFHLTPRAKXZ", "digit": "0123456789"}
FILLABLE = tuple(s for s in SHAPES if s not in ("ring", "letter", "digit"))
ORIENTATIONS: dict[str, tuple[str, ...]] = {
    "arrow": ("left", "right", "up", "down"),
    "triangle": ("up", "down"),
    "moon": ("left", "right"),
}
VARIANTS: dict[str, tuple[str, ...]] = {"star": ("5", "6"), "hexagon": ("6", "8")}
DOT_SHAPES = tuple(s for s in SHAPES if s not in GLYPH_SHAPES)
STRIPE_SHAPES = ("circle", "square", "hexagon", "diamond", "heart", "ring")
MARKS = ("dot", "stripe")
SIZES = ("small", "large")

# Nouns as they appear in text (and in POPE): the categories plus "octagon".
NOUNS: list[str] = SHAPES + ["octagon"]
PLURALS: dict[str, str] = {n: n + "s" for n in NOUNS} | {"cross": "crosses"}

# Themes: favoured shapes and colours (co-occurrence priors) and a background tint.
THEMES: dict[str, dict] = {
    "night sky": {"shapes": ("star", "moon", "circle", "cross"), "colors": ("yellow", "orange", "cyan", "blue"),
                  "tint": (172, 180, 204)},
    "cards": {"shapes": ("heart", "diamond", "cross", "star"), "colors": ("red", "dark red", "purple"),
              "tint": (214, 210, 196)},
    "traffic": {"shapes": ("arrow", "triangle", "circle", "square"), "colors": ("red", "yellow", "green", "blue"),
                "tint": (190, 194, 192)},
    "geometry": {"shapes": ("square", "triangle", "hexagon", "diamond"), "colors": (),
                 "tint": (206, 206, 206)},
    "signs": {"shapes": ("letter", "digit", "arrow", "square"), "colors": ("blue", "green", "red", "brown"),
              "tint": (200, 198, 186)},
    "jewelry": {"shapes": ("ring", "diamond", "heart", "circle"), "colors": ("yellow", "pink", "purple", "cyan"),
                "tint": (196, 186, 200)},
}
THEME_NAMES: list[str] = list(THEMES)
BACKGROUND_STYLES = ("plain", "gradient", "noisy")

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

# Classification: colour x shape (88 classes); hexagons are drawn with 6 sides here.
CLASSIFICATION_COLORS = ["red", "dark red", "orange", "yellow", "green", "blue", "cyan", "purple"]
CLASSIFICATION_SHAPES = ["circle", "square", "triangle", "star", "heart", "cross", "ring",
                         "arrow", "diamond", "hexagon", "moon"]
CLASSIFICATION_CLASSES: list[str] = [f"{c} {s}" for s in CLASSIFICATION_SHAPES for c in CLASSIFICATION_COLORS]
CLASSIFICATION_TEMPLATES: list[str] = [
    "a photo of the {c}.",
    "a drawing of the {c}.",
    "a picture of the {c}.",
    "a rendering of the {c}.",
    "the {c}.",
    "a small {c}.",
    "a large {c}.",
    "a {c} on a plain background.",
]


def article(word: str) -> str:
    """'a' or 'an' for the word that follows (by its first letter)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def noun_of(shape: str, variant: str | None) -> str:
    """The noun naming a category (an 8-sided hexagon-category object is an 'octagon')."""
    return "octagon" if shape == "hexagon" and variant == "8" else shape


def number_word(count: int) -> str:
    return NUMBER_WORDS[count] if 0 <= count < len(NUMBER_WORDS) else str(count)
