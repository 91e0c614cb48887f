"""The batch loop: run the backbone over the chunks' images, batch by batch, and write each
chunk when its last batch is done.

With ``views`` (rot4, flip2, crops5) the loader yields (B, M, 3, H, W), the backbone runs once on
the (B*M, 3, H, W) stack and a chunk's features are (N, M, d).
"""

from __future__ import annotations

from pathlib import Path

import torch

from seabench.backbones.base import Backbone
from seabench.data.base import DatasetAdapter
from seabench.data.splits import SPLITS, SplitManifest
from seabench.data.transforms import BatchNormalize, build_eval_transform, resize_side
from seabench.data.views import ViewTransform
from seabench.features.chunks import Chunk, write_chunk
from seabench.features.loader import ManifestImages, batch_positions, make_loader
from seabench.features.plan import autocast_name


@torch.inference_mode()
def run_chunks(
    adapter: DatasetAdapter,
    backbone: Backbone,
    manifest: SplitManifest,
    chunks: list[Chunk],
    partial: Path,
    key: str,
    tcfg: dict,
    views: str,
    decode: str | None,
    batch_size: int,
    workers: int,
    device: str,
    dtype: torch.dtype,
    progress,
) -> int:
    """Compute and write ``chunks``; device results stay pending until a chunk is complete."""
    totals = {s: len(manifest.items(s)) for s in SPLITS}
    done = {s: totals[s] - sum(c.size for c in chunks if c.split == s) for s in SPLITS}
    if progress:
        for s in SPLITS:
            progress(s, done[s], totals[s])
    if not chunks:
        return 0
    cuda = device.startswith("cuda")
    model = backbone.model.to(device).eval()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    amp = autocast_name(device, "fp16" if dtype == torch.float16 else "fp32")
    items = [manifest.items(c.split)[i] for c in chunks for i in range(c.start, c.stop)]
    # views "none" keeps the plain (3, H, W) item: its numbers are those of older entries.  It
    # travels as uint8 (a quarter of the bytes to collate, pin and copy) and is normalised on the
    # device by the same float operations as the per-image transform (bitwise the same numbers).
    if views == "none":
        transform, normalize = build_eval_transform(tcfg, normalize=False), BatchNormalize(tcfg)
    else:
        transform, normalize = ViewTransform(tcfg, views), None
    min_side = resize_side(tcfg) if decode == "draft" else None
    on_device = decode is not None and decode.startswith("torchvision:")
    if on_device:  # workers read bytes; the device decodes, resizes and crops
        from seabench.features.decode import DeviceDecoder, ManifestBytes, collate_bytes

        data, collate, decoder = (
            ManifestBytes(adapter, items),
            collate_bytes,
            DeviceDecoder(tcfg, device),
        )
    else:
        data, collate, decoder = ManifestImages(adapter, items, transform, min_side), None, None
    batches = batch_positions([c.size for c in chunks], batch_size)
    loader = make_loader(data, batches, collate, workers, pin_memory=cuda and not on_device)
    pending: list[torch.Tensor] = []
    pending_n = 0
    current = iter(chunks)
    chunk = next(current)
    for images in loader:
        if decoder is not None:
            images = decoder(images)
        n = images.shape[0]  # images; with views the item is (M, 3, H, W)
        m = images.shape[1] if images.ndim == 5 else 0
        if m:
            images = images.flatten(0, 1)  # (B*M, 3, H, W): one forward pass for every view
        images = images.to(device, non_blocking=True)  # from pinned memory on a GPU: async
        if normalize is not None:
            images = normalize(images)
        if cuda:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device_type="cuda",
            dtype=torch.bfloat16 if amp == "bf16" else torch.float16,
            enabled=amp is not None,
        ):
            feats = model(images)
        if m:
            feats = feats.reshape(n, m, feats.shape[-1])  # (B, M, d): view m of image b
        pending.append(feats.to(dtype))  # stays on the device: no per-batch synchronisation
        pending_n += n
        done[chunk.split] += n
        if progress:
            progress(chunk.split, done[chunk.split], totals[chunk.split])
        if pending_n == chunk.size:
            write_chunk(chunk.file(partial), torch.cat(pending).cpu(), key)  # one sync per chunk
            pending, pending_n = [], 0
            chunk = next(current, None)
    return len(items)
