"""Decoding on the extraction device: loader workers only read file bytes; the main process
decodes the batch with ``torchvision.io.decode_jpeg`` (nvJPEG on a GPU, libjpeg-turbo on a CPU)
and resizes, crops and normalises it there, so a GPU is not limited by how fast the host's cores
decode.  Its numbers differ slightly from the PIL path (another resize, and nvJPEG's own IDCT),
so the device kind is a key input (``decode: "torchvision:cuda"``).
"""

from __future__ import annotations

import io

import torch
from torch.utils.data import Dataset

from seabench.data.base import DatasetAdapter
from seabench.data.pixels import require_regular_file
from seabench.data.transforms import resize_side
from seabench.errors import SeabenchError


class ManifestBytes(Dataset):
    """The undecoded bytes of a list of manifest items (files), as uint8 tensors."""

    def __init__(self, adapter: DatasetAdapter, items: list):
        self.adapter, self.items = adapter, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        path = self.adapter.path(self.items[i])
        require_regular_file(path, f"{self.adapter.name}: image")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SeabenchError(f"{self.adapter.name}: cannot read image {path}: {exc}") from exc
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def collate_bytes(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    return batch  # files differ in length: a list, not a stacked tensor


class DeviceDecoder:
    """A batch of file bytes -> uint8 (B, 3, size, size) on ``device``: decode, resize the
    shorter side to floor(size / crop_pct) (torchvision's antialiased resize with the transform's
    interpolation), centre-crop; :class:`~seabench.data.transforms.BatchNormalize` finishes."""

    def __init__(self, cfg: dict, device: str):
        if cfg["crop_mode"] != "center":
            raise SeabenchError(
                f"--decode device supports the centre-crop transform only, not crop mode "
                f"{cfg['crop_mode']!r}; use --decode draft"
            )
        from torchvision.transforms import InterpolationMode

        self.device = device
        self.side, self.size = resize_side(cfg), cfg["size"]
        self.interpolation = InterpolationMode(cfg["interpolation"])

    def decode(self, batch: list[torch.Tensor]) -> list[torch.Tensor]:
        from torchvision.io import ImageReadMode, decode_jpeg

        try:
            return decode_jpeg(batch, mode=ImageReadMode.RGB, device=self.device)
        except RuntimeError:  # a PNG or damaged file among them: one by one, PIL for non-JPEGs
            return [self._one(b) for b in batch]

    def _one(self, data: torch.Tensor) -> torch.Tensor:
        from PIL import Image
        from torchvision.io import ImageReadMode, decode_jpeg
        from torchvision.transforms.functional import pil_to_tensor

        from seabench.data.pixels import to_rgb, too_large

        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)
        except RuntimeError:
            try:
                with Image.open(io.BytesIO(data.numpy().tobytes())) as im:
                    return pil_to_tensor(to_rgb(im)).to(self.device)
            except Image.DecompressionBombError as exc:
                raise too_large("an image", exc) from exc
            except OSError as exc:
                raise SeabenchError(f"cannot decode an image: {exc}") from exc

    def __call__(self, batch: list[torch.Tensor]) -> torch.Tensor:
        import torchvision.transforms.v2.functional as F

        out = []
        for img in self.decode(batch):
            img = F.resize(img, [self.side], interpolation=self.interpolation, antialias=True)
            out.append(F.center_crop(img, [self.size, self.size]))
        return torch.stack(out)
