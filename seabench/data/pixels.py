"""Any decoded image as 8-bit RGB, with its pixels meaning what they meant in the file.

PIL's own ``convert("RGB")`` clips a 16-bit greyscale image (mode ``I;16``, a medical or
scientific PNG or TIFF) at 255, so nearly every pixel turns white and the features describe a
blank square without a word.  Such images are scaled to 8 bits instead (the top byte of each
value, as torchvision's ``to_dtype`` does); every other mode (grey, palette, CMYK, with or
without alpha) converts as PIL does.  An image larger than PIL decodes safely (a decompression
bomb: a small file claiming a huge size) is one clear error, not an internal one.
"""

from __future__ import annotations

import os
import stat

import numpy as np
from PIL import Image

from seabench.errors import SeabenchError

#: integer modes whose values run to 65535 (``I`` is 32-bit, clipped to that range)
SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def to_rgb(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit RGB; 16-bit values are scaled, not clipped."""
    if im.mode in SIXTEEN_BIT:
        values = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        im = Image.fromarray((values >> 8).astype(np.uint8), "L")
    return im.convert("RGB")


def too_large(what: str, exc: Image.DecompressionBombError) -> SeabenchError:
    """The error for an image PIL refuses to decode for its size."""
    return SeabenchError(
        f"{what} is too large to decode safely ({exc}); shrink or remove the image"
    )


def require_regular_file(path: str | os.PathLike, what: str) -> None:
    """Refuse a FIFO, socket or device where an image file should be: reading one would wait
    forever for a writer (a FIFO) or never end (a device).  A missing file passes: its reader
    says it is missing."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise SeabenchError(
            f"{what} {path} is not a regular file (a FIFO, socket or device); "
            "replace it with the image file or remove it"
        )
