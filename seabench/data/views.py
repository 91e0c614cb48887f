"""Fixed views of each image for multi-view features: rotations, flips, five crops.

A view transform maps one PIL image to a (M, 3, H, W) stack, one evaluation-transformed tensor per
view, in a fixed order that the probe relies on (view m of every image is the same transformation).
Rotations and flips act on the evaluated crop (the tensor), not on the decoded image: view m is then
exactly the rotated / mirrored view 0 (a centre crop of a rotated non-square image would be shifted
by a rounding pixel), view 0 is exactly the plain evaluation transform, and each image is decoded
and resized once whatever the number of views.
"""

from __future__ import annotations

import torch
from PIL import Image

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
    """Image -> (M, 3, size, size): the evaluation transform applied to each fixed view.

    rot4 turns counter-clockwise (as ``PIL.Image.rotate`` and ``torch.rot90`` do); flip2 mirrors
    left-right; crops5 takes torchvision's FiveCrop of the image resized to size / crop_pct.
    """

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

    @property
    def num_views(self) -> int:
        return len(self.names)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        if self.views == "crops5":
            crops = self.pre(img)  # (tl, tr, bl, br, center), torchvision's documented order
            return torch.stack([self.post(c) for c in crops])
        x = self.base(img)  # (3, H, W)
        if self.views == "rot4":
            return torch.stack([torch.rot90(x, k, dims=(1, 2)) for k in range(4)])
        if self.views == "flip2":
            return torch.stack([x, x.flip(-1)])
        return x[None]
