"""Readers of JSONL/CSV caption files, LLaVA pretraining JSON and WebDataset tars, on fixtures in the real layouts."""
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from openeyes.datasets import (
    WebDatasetTars, expand_shards, read_captions, read_image_text, read_llava_pretrain,
)
from openeyes.errors import UserError


def png_bytes(color, size=(6, 4)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def write_image(path, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(color))
    return path


def test_jsonl_and_csv_captions(tmp_path):
    write_image(tmp_path / "images" / "a.png", (255, 0, 0))
    write_image(tmp_path / "images" / "b.png", (0, 0, 255))
    (tmp_path / "train.jsonl").write_text(
        json.dumps({"image": "images/a.png", "caption": "a red square"}) + "\n\n"
        + json.dumps({"image": str(tmp_path / "images" / "b.png"), "caption": "a blue square"}) + "\n")
    data = read_captions(tmp_path / "train.jsonl")
    assert len(data) == 2 and data[0]["text"] == "a red square"
    assert np.asarray(data[1]["image"])[0, 0].tolist() == [0, 0, 255] and data[1]["image"].mode == "RGB"
    (tmp_path / "train.csv").write_text('filepath,title\nimages/b.png,"blue, square"\nimages/a.png,red\n')
    data = read_captions(tmp_path / "train.csv", image_column="filepath", text_column="title")
    assert [data[i]["text"] for i in range(2)] == ["blue, square", "red"]
    (tmp_path / "train.tsv").write_text("image\tcaption\nimages/a.png\tred\n")
    assert read_image_text(tmp_path / "train.tsv")[0]["text"] == "red"


def test_caption_file_errors_name_file_and_row(tmp_path):
    write_image(tmp_path / "a.png", (1, 2, 3))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.png", "caption": "ok"}\n{"image": "a.png", "caption": \n')
    with pytest.raises(UserError, match=r"bad\.jsonl line 2: not valid JSON"):
        read_captions(bad)
    bad.write_text('{"image": "a.png", "caption": "ok"}\n{"image": "missing.png", "caption": "x"}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl line 2: image file .*missing\.png not found"):
        read_captions(bad)
    bad.write_text('{"image": "a.png", "text": "ok"}\n')
    with pytest.raises(UserError, match=r"line 1: no column 'caption'"):
        read_captions(bad)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("image,caption\na.png,fine\na.png,too,many\n")
    with pytest.raises(UserError, match=r"bad\.csv line 3"):
        read_captions(bad_csv)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "c.jsonl").write_text('{"image": "broken.png", "caption": "x"}\n')
    data = read_captions(tmp_path / "c.jsonl")
    with pytest.raises(UserError, match=r"c\.jsonl line 1: cannot decode the image"):
        data[0]
    with pytest.raises(UserError, match="not found"):
        read_captions(tmp_path / "absent.jsonl")


def test_llava_pretrain_json(tmp_path):
    folder = tmp_path / "LLaVA-Pretrain"
    write_image(folder / "images" / "00453" / "004539375.jpg", (0, 255, 0))
    rows = [
        {"id": "004539375", "image": "00453/004539375.jpg", "conversations": [
            {"from": "human", "value": "Render a clear and concise summary of the photo.\n<image>"},
            {"from": "gpt", "value": "select luxury furniture 3 - inch gel memory foam mattress topper"}]},
        {"id": "text-only", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    ]
    (folder / "blip_laion_cc_sbu_558k.json").write_text(json.dumps(rows))
    data = read_llava_pretrain(folder / "blip_laion_cc_sbu_558k.json", image_folder=folder / "images")
    assert len(data) == 1 and data.skipped == 1
    assert data[0]["text"] == "select luxury furniture 3 - inch gel memory foam mattress topper"
    assert data[0]["image"].size == (6, 4)
    rows.append({"id": "x9", "image": "00453/004539375.jpg", "conversations": [{"from": "human", "value": "<image>"}]})
    (folder / "bad.json").write_text(json.dumps(rows))
    with pytest.raises(UserError, match=r"bad\.json row 2 \(id x9\): no 'gpt' turn"):
        read_image_text(folder / "bad.json", image_folder=folder / "images")


def add_member(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_shard(path, samples):
    with tarfile.open(path, "w") as archive:
        for key, members in samples:
            for extension, data in members.items():
                add_member(archive, f"{key}.{extension}", data)


def test_webdataset_shards_random_access(tmp_path):
    colors = [(10 * i, 0, 0) for i in range(6)]
    write_shard(tmp_path / "shard-000000.tar", [
        (f"00000/{i:09d}", {"jpg": png_bytes(colors[i]), "txt": f"caption {i}".encode(),
                            "json": json.dumps({"caption": "ignored", "width": 6}).encode()}) for i in range(3)])
    write_shard(tmp_path / "shard-000001.tar", [
        (f"00001/{i:09d}", {"png": png_bytes(colors[i]), "json": json.dumps({"caption": f"json {i}"}).encode()})
        for i in range(3, 6)])
    data = WebDatasetTars(str(tmp_path / "shard-{000000..000001}.tar"))
    assert len(data) == 6
    for i in (5, 0, 3, 2):  # any order
        sample = data[i]
        assert sample["text"] == (f"caption {i}" if i < 3 else f"json {i}")
        assert np.asarray(sample["image"])[0, 0].tolist() == list(colors[i])
    assert len(read_image_text(tmp_path)) == 6  # a folder of shards
    assert expand_shards(str(tmp_path / "shard-*.tar")) == sorted(tmp_path.glob("*.tar"))

    import pickle

    copy = pickle.loads(pickle.dumps(data))  # what a spawned DataLoader worker gets
    assert copy[4]["text"] == "json 4"


def test_webdataset_errors_name_shard_and_member(tmp_path):
    write_shard(tmp_path / "incomplete.tar", [("k1", {"jpg": png_bytes((1, 1, 1)), "txt": b"ok"}), ("k2", {"txt": b"no image"})])
    with pytest.raises(UserError, match=r"incomplete\.tar sample 'k2': no image"):
        WebDatasetTars(tmp_path / "incomplete.tar")
    assert len(WebDatasetTars(tmp_path / "incomplete.tar", skip_incomplete=True)) == 1
    (tmp_path / "notatar.tar").write_bytes(b"garbage" * 200)
    with pytest.raises(UserError, match=r"notatar\.tar is not an uncompressed tar"):
        WebDatasetTars(tmp_path / "notatar.tar")
    write_shard(tmp_path / "badjson.tar", [("k", {"jpg": png_bytes((1, 1, 1)), "json": b'{"url": "x"}'})])
    with pytest.raises(UserError, match=r"badjson\.tar member k\.json: no caption"):
        WebDatasetTars(tmp_path / "badjson.tar")[0]
    write_shard(tmp_path / "badimg.tar", [("k", {"jpg": b"not an image", "txt": b"x"})])
    with pytest.raises(UserError, match=r"badimg\.tar member k\.jpg: cannot decode"):
        WebDatasetTars(tmp_path / "badimg.tar")[0]
    with pytest.raises(UserError, match="not found"):
        WebDatasetTars(tmp_path / "nope.tar")
