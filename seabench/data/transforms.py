"""The evaluation transform, built by timm from the backbone's data config."""

from __future__ import annotations

import math

import torch
from timm.data import create_transform


def eval_transform_config(
    data_config: dict, image_size: int | None = None, crop_pct: float | None = None
) -> dict:
    """The transform's inputs (they go into the cache key): size, crop, interpolation, mean, std."""
    size = image_size or int(data_config["input_size"][-1])
    return {
        "size": int(size),
        "crop_pct": float(crop_pct if crop_pct is not None else data_config.get("crop_pct", 0.875)),
        "crop_mode": data_config.get("crop_mode", "center"),
        "interpolation": data_config.get("interpolation", "bicubic"),
        "mean": [float(v) for v in data_config["mean"]],
        "std": [float(v) for v in data_config["std"]],
    }


def build_eval_transform(cfg: dict, normalize: bool = True):
    """Resize to size / crop_pct, centre-crop to size, to tensor, normalise.

    ``normalize=False`` stops at the uint8 (3, size, size) tensor, for :class:`BatchNormalize`
    to finish on the batch (a quarter of the bytes to collate, pin and copy to a GPU)."""
    return create_transform(
        input_size=(3, cfg["size"], cfg["size"]),
        is_training=False,
        interpolation=cfg["interpolation"],
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        crop_pct=cfg["crop_pct"],
        crop_mode=cfg["crop_mode"],
        normalize=normalize,
    )


def resize_side(cfg: dict) -> int:
    """The side the transform resizes to (timm's floor(size / crop_pct)): an image whose width
    and height are both at least this loses nothing to a reduced-scale decode."""
    return math.floor(cfg["size"] / cfg["crop_pct"])


class BatchNormalize:
    """uint8 (B, 3, H, W) -> float32 normalised, on whatever device the batch is on.

    The same float operations in the same order as timm's per-image ToTensor + Normalize
    (x / 255, - mean, / std), so the result is bitwise the same as the per-image transform's."""

    def __init__(self, cfg: dict):
        self.mean = torch.tensor(cfg["mean"], dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(cfg["std"], dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.mean.device != images.device:  # once: a blocking copy per batch would sync
            self.mean, self.std = self.mean.to(images.device), self.std.to(images.device)
        return images.float().div_(255).sub_(self.mean).div_(self.std)
