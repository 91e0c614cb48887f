"""Fixed views of each image for multi-view features: rotations, flips, five crops.

A view transform maps one PIL image to a (M, 3, H, W) stack, one evaluation-transformed tensor per
view, in a fixed order that the probe relies on (view m of every image is the same transformation).
"""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import functional as TF

from seabench.data.transforms import build_eval_transform
from seabench.errors import SeabenchError

VIEWS: dict[str, tuple[str, ...]] = {
    "none": ("identity",),
    "rot4": ("rot0", "rot90", "rot180", "rot270"),
    "flip2": ("identity", "hflip"),
    "crops5": ("top-left", "top-right", "bottom-left", "bottom-right", "center"),
}


def view_names(views: str) -> tuple[str, ...]:
    if views not in VIEWS:
        raise SeabenchError(f"unknown --views {views!r}; choose one of: {', '.join(VIEWS)}")
    return VIEWS[views]


class ViewTransform:
    """Image -> (M, 3, size, size): the evaluation transform applied to each fixed view."""

    def __init__(self, cfg: dict, views: str):
        self.names = view_names(views)
        self.views = views
        self.cfg = cfg
        self.base = build_eval_transform(cfg)
        if views == "crops5":
            from torchvision import transforms as T

            size = cfg["size"]
            resize = int(size / cfg["crop_pct"])
            interp = T.InterpolationMode(cfg["interpolation"])
            self.pre = T.Compose([T.Resize(resize, interpolation=interp), T.FiveCrop(size)])
            self.post = T.Compose([T.ToTensor(), T.Normalize(cfg["mean"], cfg["std"])])

    def __call__(self, img: Image.Image) -> torch.Tensor:
        if self.views == "crops5":
            crops = self.pre(img)  # (tl, tr, bl, br, center), torchvision's documented order
            return torch.stack([self.post(c) for c in crops])
        if self.views == "rot4":
            imgs = [img.rotate(angle, expand=True) for angle in (0, 90, 180, 270)]
        elif self.views == "flip2":
            imgs = [img, TF.hflip(img)]
        else:
            imgs = [img]
        return torch.stack([self.base(i) for i in imgs])
