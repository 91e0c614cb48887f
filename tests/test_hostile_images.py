"""Hostile image folders: a symbolic-link loop, a decompression bomb, 16-bit, palette, CMYK and
EXIF-tagged files each give one clear error or the right pixels, never a hang or a traceback."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from seabench.data import get_dataset
from seabench.data.files import open_rgb
from seabench.data.folder_walk import class_images
from seabench.errors import SeabenchError


def _png(path: Path, w: int, h: int, rows: int = 1) -> None:
    """A PNG header claiming w x h pixels (the file itself is tiny)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (w * 3 + 1) * rows)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")
    return root


def test_a_symlink_loop_in_a_class_folder_is_one_clear_error(tmp_path):
    root = _folder(tmp_path / "set")
    os.symlink(".", root / "train" / "a" / "again")  # os.walk follows it ~40 levels deep
    with pytest.raises(SeabenchError, match=r"train/a/again is a symbolic link .* remove the link"):
        get_dataset(f"imagefolder:{root}").manifest()


def test_listing_matches_torchvision_with_nested_folders_and_links(tmp_path):
    root = _folder(tmp_path / "set")
    (root / "train" / "a" / "deeper").mkdir()
    Image.new("RGB", (4, 4)).save(root / "train" / "a" / "deeper" / "x.JPG")
    (tmp_path / "elsewhere").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "elsewhere" / "y.png")
    os.symlink(tmp_path / "elsewhere", root / "train" / "b" / "linked")  # not a loop: followed
    classes = {"a": 0, "b": 1}
    ours = class_images(root / "train", classes, IMG_EXTENSIONS, "t")
    assert ours == make_dataset(str(root / "train"), classes, extensions=IMG_EXTENSIONS)
    assert any(p.endswith("linked/y.png") for p, _ in ours)


def test_a_decompression_bomb_is_one_clear_error(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png(bomb, 100_000, 100_000)
    with pytest.raises(SeabenchError, match=r"bomb\.png is too large to decode safely"):
        open_rgb(bomb, "imagefolder:x")


def test_16_bit_greyscale_is_scaled_not_clipped_white(tmp_path):
    values = np.array([[0, 256, 1000, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    rgb = np.asarray(open_rgb(tmp_path / "deep.png", "x"))
    assert rgb[0, :, 0].tolist() == [0, 1, 3, 128, 255]
    assert (rgb[..., 0] == rgb[..., 2]).all()


@pytest.mark.parametrize("kind", ["palette", "cmyk", "exif-rotated", "grey+alpha"])
def test_other_modes_open_as_rgb_of_their_own_size(tmp_path, kind):
    rng = np.random.default_rng(1)
    path = tmp_path / ("x.png" if kind in ("palette", "grey+alpha") else "x.jpg")
    if kind == "palette":
        Image.fromarray(rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)).convert("P").save(path)
    elif kind == "cmyk":
        Image.fromarray(rng.integers(0, 255, (6, 10, 4), dtype=np.uint8), "CMYK").save(path)
    elif kind == "grey+alpha":
        Image.fromarray(rng.integers(0, 255, (6, 10, 2), dtype=np.uint8), "LA").save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90": like torchvision's loader, the stored pixels are used
        Image.fromarray(rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)).save(path, exif=exif)
    im = open_rgb(path, "x")
    assert im.mode == "RGB" and im.size == (10, 6)


@pytest.mark.parametrize("content", [b"", b"not an image\n", b"\xff\xd8\xff\xe0 cut short"])
def test_empty_or_foreign_or_truncated_jpeg_is_one_clear_error(tmp_path, content):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(SeabenchError, match=r"cannot read image .*x\.jpg"):
        open_rgb(path, "imagefolder:x")


def test_a_damaged_image_met_by_a_loader_worker_is_still_one_line(tmp_path):
    """torch re-raises a worker's error with the worker's traceback as its message."""
    from torchvision.transforms.functional import pil_to_tensor

    from seabench.features.loader import ManifestImages, make_loader

    root = _folder(tmp_path / "set")
    (root / "train" / "a" / "0.png").write_bytes(b"")  # zero bytes where an image should be
    adapter = get_dataset(f"imagefolder:{root}")
    items = adapter.manifest().items("train")
    data = ManifestImages(adapter, items, pil_to_tensor)
    loader = make_loader(data, [list(range(len(items)))], None, workers=1, pin_memory=False)
    with pytest.raises(SeabenchError) as caught:
        list(loader)
    message = str(caught.value)
    assert "Traceback" not in message and "\n" not in message
    assert message.startswith(f"imagefolder:{root}: cannot read image ") and "0.png" in message


def test_a_fifo_named_like_an_image_is_one_error_not_a_hang(tmp_path):
    import threading
    import time

    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)

    def release_a_blocked_reader():  # so the old code fails the test instead of hanging it
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # no reader yet
                time.sleep(0.05)

    threading.Thread(target=release_a_blocked_reader, daemon=True).start()
    with pytest.raises(SeabenchError, match=r"x\.jpg is not a regular file"):
        open_rgb(fifo, "imagefolder:x")


def test_pillows_warnings_about_an_image_are_one_line_each(capsys):
    """Damaged EXIF data: Pillow warns from its own source (two lines, one of Pillow's code)."""
    from seabench.cli._common import _show_once

    shown = []
    show = _show_once(lambda *a: shown.append(a))
    pil = "/venv/lib/python3.11/site-packages/PIL/TiffImagePlugin.py"
    for _ in range(2):
        show(UserWarning("Corrupt EXIF data.  Expecting 4 bytes\n"), UserWarning, pil, 982)
    show(UserWarning("not Pillow's"), UserWarning, "/somewhere/else.py", 1)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "Corrupt EXIF data. Expecting 4 bytes" in err
    assert len(err.strip().splitlines()) == 1
    assert len(shown) == 1  # other warnings still go where they went
