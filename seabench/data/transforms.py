"""The evaluation transform, built by timm from the backbone's data config."""

from __future__ import annotations

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


def build_eval_transform(cfg: dict):
    """Resize to size / crop_pct, centre-crop to size, to tensor, normalise."""
    return create_transform(
        input_size=(3, cfg["size"], cfg["size"]),
        is_training=False,
        interpolation=cfg["interpolation"],
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        crop_pct=cfg["crop_pct"],
        crop_mode=cfg["crop_mode"],
    )
