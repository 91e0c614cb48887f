"""The ``--device`` values, checked without importing torch: torch's device types, each with an
optional ``:INDEX``.  Whether such a device is present is for torch to say where it is used."""

from __future__ import annotations

import re

#: torch's device types, as its own error lists them (a test checks torch accepts each)
DEVICE_TYPES = (
    "cpu",
    "cuda",
    "mps",
    "xpu",
    "hip",
    "meta",
    "hpu",
    "mtia",
    "maia",
    "xla",
    "lazy",
    "ipu",
    "vulkan",
    "ve",
    "fpga",
    "mkldnn",
    "opengl",
    "opencl",
    "ideep",
    "privateuseone",
)
_DEVICE = re.compile(rf"({'|'.join(DEVICE_TYPES)})(:(0|[1-9][0-9]*))?")


def is_device(text: object) -> bool:
    """True for a string torch reads as a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``...)."""
    return isinstance(text, str) and _DEVICE.fullmatch(text) is not None
