"""Small PNG thumbnails of image samples, as data URLs (no imaging library needed)."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def is_image_batch(x: np.ndarray) -> bool:
    """(n, h, w) grey or (n, h, w, 1|3|4) images."""
    return x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3, 4))


def png_bytes(image: np.ndarray) -> bytes:
    """Encode one (h, w) or (h, w, c) image, scaled to its own value range, as PNG."""
    a = np.asarray(image, dtype="float64")
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    a = np.nan_to_num((a - lo) / ((hi - lo) or 1.0)) * 255
    pixels = np.clip(np.round(a), 0, 255).astype(np.uint8)
    h, w = pixels.shape[:2]
    color = {2: 0, 3: {3: 2, 4: 6}.get(pixels.shape[-1] if pixels.ndim == 3 else 0, 0)}[pixels.ndim]
    rows = pixels.reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def png_data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
