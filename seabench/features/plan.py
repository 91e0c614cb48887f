"""What an extraction would produce, before any work: its cache key and the key's inputs.

The key is computed from the backbone, the transform, the dataset, the split manifest, the
stored dtype and, only when they differ from the original defaults, the views, the autocast of a
GPU forward pass and the decode path; so entries cached before any of those existed keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seabench.backbones.base import Backbone
from seabench.data.base import DatasetAdapter
from seabench.data.splits import SplitManifest
from seabench.data.transforms import eval_transform_config
from seabench.data.views import view_names
from seabench.errors import SeabenchError
from seabench.features.cache import cache_key

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
#: how image files are decoded: "draft" at the smallest JPEG DCT scale that still covers the
#: resize (the default), "full" at full size (the numbers of entries cached before "draft"),
#: "device" on the extraction device (nvJPEG on a GPU; see seabench.features.decode)
DECODES = ("draft", "full", "device")


@dataclass
class KeyPlan:
    """What an extraction would produce: its key, the key's inputs, the manifest and transform."""

    key: str
    inputs: dict
    manifest: SplitManifest
    transform: dict
    views: str = "none"
    #: the keyed decode path ("draft", "torchvision:<device kind>"), None for the original one
    decode: str | None = None


def key_inputs(
    adapter: DatasetAdapter,
    backbone: Backbone,
    manifest: SplitManifest,
    transform_cfg: dict,
    dtype: str,
    views: str = "none",
    autocast: str | None = None,
    decode: str | None = None,
) -> dict:
    """The key's inputs; ``views`` enters only when not "none", ``autocast`` (the reduced
    precision of a GPU forward pass) and ``decode`` (a reduced-scale decode of image files) only
    when set, so full-precision single-view full-decode keys (and the entries cached before any
    of them existed) stay what they were."""
    inputs = {
        "backbone": backbone.identity,
        "transform": transform_cfg,
        "dataset": adapter.identity(),
        "manifest": manifest.hash,
        "dtype": dtype,
    }
    if views != "none":
        inputs["views"] = views
    if autocast is not None:
        inputs["autocast"] = autocast
    if decode is not None:
        inputs["decode"] = decode
    return inputs


def decode_mode(
    adapter: DatasetAdapter, decode: str = "draft", device: str = "cpu", views: str = "none"
) -> str | None:
    """The keyed decode path: "draft" for datasets of image files, None (unkeyed, as before)
    for in-memory ones (mnist5k, CIFAR) and for ``decode="full"``, "torchvision:<device kind>"
    for decoding on the device."""
    if decode not in DECODES:
        raise SeabenchError(f"unknown --decode {decode!r}; choose one of: {', '.join(DECODES)}")
    if decode == "device":
        if not adapter.scaled_decode:
            raise SeabenchError(
                f"--decode device decodes image files; {adapter.name} is held in memory: "
                "use --decode draft"
            )
        if views != "none":
            raise SeabenchError("--decode device works with --views none only; use --decode draft")
        return f"torchvision:{device.split(':', 1)[0]}"
    return "draft" if decode == "draft" and adapter.scaled_decode else None


def autocast_name(device: str, dtype: str) -> str | None:
    """Reduced-precision compute on GPUs when the features are stored in fp16 anyway."""
    if not device.startswith("cuda") or dtype != "fp16":
        return None
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def plan_key(
    adapter: DatasetAdapter,
    backbone: Backbone,
    *,
    image_size: int | None = None,
    crop_pct: float | None = None,
    dtype: str = "fp16",
    subset: int | None = None,
    views: str = "none",
    device: str = "cpu",
    decode: str = "draft",
) -> KeyPlan:
    """The cache key of an extraction, without running it (it reads the split manifest).

    ``device``: features computed under bf16/fp16 autocast on a GPU differ from full-precision
    ones by more than fp16 storage rounding, so they get their own key.  ``decode``: see
    :data:`DECODES` and :func:`decode_mode`."""
    if dtype not in DTYPES:
        raise SeabenchError(f"unknown --dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    view_names(views)  # an unknown name is bad input, before any work
    keyed_decode = decode_mode(adapter, decode, device, views)
    manifest = adapter.manifest()
    if subset is not None:
        manifest = manifest.subset(subset)
    tcfg = eval_transform_config(backbone.data_config, image_size, crop_pct)
    inputs = key_inputs(
        adapter, backbone, manifest, tcfg, dtype, views, autocast_name(device, dtype), keyed_decode
    )
    return KeyPlan(cache_key(inputs), inputs, manifest, tcfg, views, keyed_decode)
