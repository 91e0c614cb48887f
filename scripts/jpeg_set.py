"""A realistic JPEG ImageFolder for the extraction benchmark, built once and kept under the home.

The transfer datasets are JPEGs of roughly 300 to 500 pixels a side (Food-101 and SUN397 larger),
not tiny in-memory arrays, so decoding and resizing cost what they cost there.  The images are
crops and rescales of the photographs that ship with scikit-image and scikit-learn (no network),
one class per source photograph, saved at quality 90: two thirds at 500 x 375 (landscape or
portrait) and one third at 1024 x 768.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

#: bump when the images change, so an old set under the home is not reused
VERSION = 1
SIZES = ((500, 375), (375, 500), (1024, 768))


def source_photos() -> dict[str, np.ndarray]:
    """RGB uint8 photographs shipped inside scikit-image and scikit-learn."""
    import skimage.data as sk
    from sklearn.datasets import load_sample_images

    photos = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina"):
        photos[name] = np.asarray(getattr(sk, name)())[..., :3]
    sample = load_sample_images()
    for name, img in zip(("china", "flower"), sample.images, strict=True):
        photos[name] = np.asarray(img)[..., :3]
    return photos


def _variant(photo: Image.Image, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A random crop of the photograph with the target's aspect ratio, rescaled to ``size``."""
    w, h = photo.size
    tw, th = size
    scale = rng.uniform(0.55, 1.0) * min(w / tw, h / th)
    cw, ch = max(16, int(tw * scale)), max(16, int(th * scale))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = photo.crop((x, y, x + cw, y + ch)).resize(size, Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    gain = rng.uniform(0.85, 1.15, size=3)  # a colour cast, so no two files are alike
    arr = np.clip(np.asarray(img, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def build_jpeg_set(home: Path, images: int = 2000, seed: int = 0) -> Path:
    """``<home>/bench/jpeg/v{VERSION}-{images}/`` holding train/ and test/ class folders
    (a quarter of each class in test/); reused when a finished one is there."""
    root = Path(home) / "bench" / "jpeg" / f"v{VERSION}-{images}"
    done = root / "done.json"
    if done.is_file():
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    photos = {k: Image.fromarray(v) for k, v in source_photos().items()}
    names = sorted(photos)
    if images < 4 * len(names):
        raise SystemExit(f"--images must be at least {4 * len(names)} (a test image per class)")
    counts = {"500x375": 0, "375x500": 0, "1024x768": 0}
    for i in range(images):
        cls = names[i % len(names)]
        size = SIZES[(i // len(names)) % len(SIZES)]
        split = "test" if (i // len(names)) % 4 == 3 else "train"
        folder = tmp / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        _variant(photos[cls], size, rng).save(folder / f"{i:06d}.jpg", quality=90)
        counts[f"{size[0]}x{size[1]}"] += 1
    (tmp / "done.json").write_text(json.dumps({"images": images, "sizes": counts}))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root
