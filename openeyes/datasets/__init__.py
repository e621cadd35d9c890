"""Readers of real image-text formats, as map-style datasets of ``{"image": PIL.Image, "text": str}``.

- ``read_captions``: a JSONL or CSV/TSV file of image path + caption (column names configurable,
  image paths relative to the file or to ``image_root``);
- ``read_llava_pretrain``: LLaVA pretraining JSON (``image`` + the first ``gpt`` turn as caption);
- ``WebDatasetTars``: WebDataset shards (``key.jpg`` + ``key.txt``/``key.json``), indexed once,
  random access with the stdlib ``tarfile``;
- ``read_image_text``: picks one of the above from the path.

Malformed input raises ``UserError`` naming the file and the row (or tar member).
"""
from openeyes.datasets.captions import read_captions
from openeyes.datasets.common import ImageTextDataset, load_image
from openeyes.datasets.llava import read_llava_pretrain
from openeyes.datasets.open import read_image_text
from openeyes.datasets.webdataset import WebDatasetTars, expand_shards

__all__ = [
    "ImageTextDataset", "WebDatasetTars", "expand_shards", "load_image", "read_captions",
    "read_image_text", "read_llava_pretrain",
]
