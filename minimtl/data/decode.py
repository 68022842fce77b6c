"""Decode one image file to an 8-bit grayscale S x S array, with Pillow.

What comes in, and what happens to it:

- 8-bit gray, 1-bit, palette, RGB(A), CMYK, ...: Pillow's ``convert("L")``
  (ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B); an alpha channel is ignored.
- 16-bit gray PNGs (Pillow modes ``I;16*`` and ``I``): scaled by the real bit depth,
  ``round(v * 255 / (2**bits - 1))``, where ``bits`` is the PNG ``sBIT`` chunk if the file has
  one, else the smallest of 8, 10, 12, 14, 16 that holds the largest value. So a 12-bit X-ray
  stored in 16 bits is not left nearly black, as dividing by 65535 would leave it.
- JPEGs with an EXIF orientation are turned upright first (``ImageOps.exif_transpose``).

``pixel_hash`` is the sha256 of those decoded 8-bit pixels at their own size (row-major bytes,
before any resize), so two files with identical pixels have the same hash whatever the requested
image size. It equals the ``pixel_sha256`` column of the shared data's ``DUPLICATES.csv``.

Uniform borders (``crop="borders+stretch"`` or ``"borders+center"``, off by default): the black or
white frame some detectors leave is cut away first, by :func:`remove_uniform_borders`.

Resizing to S x S (``crop="stretch"``, the study's choice, squashes the whole image;
``crop="center"`` first cuts the largest centred square, keeping the aspect ratio):
each axis on its own, with Pillow ``BOX`` (exact area averaging, the analogue of OpenCV's
``INTER_AREA`` used by the study) where it shrinks and ``BILINEAR`` where it grows
(Kermany's 224 px files grow to 256). An axis already S long is left alone.
"""

import hashlib
import os
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "decode_image",
    "decode_file",
    "read_gray8",
    "to_gray8",
    "resize_square",
    "remove_uniform_borders",
    "BORDER_TOLERANCE",
    "BORDER_MAX_SHARE",
    "png_significant_bits",
    "describe_decode_error",
    "CROPS",
    "SHRINK_RESAMPLER",
    "ENLARGE_RESAMPLER",
]

CROPS = ("stretch", "center", "borders+stretch", "borders+center")
BORDER_TOLERANCE = 8  # a border line's pixels span at most this many gray levels
BORDER_MAX_SHARE = 0.25  # at most this share of the height (width) is cut from each side
SHRINK_RESAMPLER = Image.Resampling.BOX
ENLARGE_RESAMPLER = Image.Resampling.BILINEAR
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_significant_bits(path):
    """The gray bit depth stated by a PNG's ``sBIT`` chunk, or None.

    Inputs:
    - path: str or Path of a file (need not be a PNG).

    Returns:
    - int or None: the first byte of ``sBIT`` (the gray or red channel's significant bits);
      None for non-PNG files and PNGs without ``sBIT``. Only the chunks before ``IDAT`` are read.
    """
    with open(path, "rb") as handle:
        if handle.read(8) != _PNG_SIGNATURE:
            return None
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            length, kind = struct.unpack(">I4s", header)
            if kind == b"sBIT":
                data = handle.read(length)
                return data[0] if data else None
            if kind in (b"IDAT", b"IEND"):
                return None
            handle.seek(length + 4, 1)  # chunk data and its CRC


def to_gray8(image, significant_bits=None):
    """Convert a loaded Pillow image to 8-bit grayscale pixels.

    Inputs:
    - image: PIL.Image in any mode.
    - significant_bits: int or None, the real bit depth of a 16-bit gray image (PNG ``sBIT``).

    Returns:
    - uint8 array (H, W).
    """
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.int64)
        values = np.clip(values, 0, None)
        bits = significant_bits
        if not bits or bits > 16:
            largest = int(values.max()) if values.size else 0
            bits = next(b for b in (8, 10, 12, 14, 16, 32) if largest < 2**b)
        full_scale = 2**bits - 1
        scaled = (np.minimum(values, full_scale) * 255 + full_scale // 2) // full_scale
        return scaled.astype(np.uint8)
    if image.mode in ("LA", "PA", "RGBA", "RGBa", "La"):
        # Drop transparency instead of letting it change the gray values.
        image = image.convert("RGB") if image.mode in ("PA", "RGBA", "RGBa") else image.getchannel(0)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8)


def remove_uniform_borders(pixels, tolerance=BORDER_TOLERANCE, max_share=BORDER_MAX_SHARE):
    """Cut the uniform frame off an image, side by side.

    The rule: from each edge inwards, a row (column) belongs to the border while its pixels span at
    most ``tolerance`` gray levels (max - min) and, for the lines after the first, while its mean
    stays within ``tolerance`` of the edge line's mean (one frame, not a dark lung field that happens
    to be flat). At most ``max_share`` of the height (width) is removed from each side, so an image
    that is flat all over is left alone.

    Input: pixels, uint8 (H, W). Returns a view (h, w) of it without the border.
    """
    pixels = np.asarray(pixels)
    spans = {
        "rows": pixels.max(axis=1).astype(int) - pixels.min(axis=1),
        "columns": pixels.max(axis=0).astype(int) - pixels.min(axis=0),
    }
    means = {"rows": pixels.mean(axis=1), "columns": pixels.mean(axis=0)}

    def border_length(axis, order):
        span, mean = spans[axis][order], means[axis][order]
        limit = int(max_share * len(span))
        k = 0
        while k < limit and span[k] <= tolerance and abs(mean[k] - mean[0]) <= tolerance:
            k += 1
        return k

    top, bottom = border_length("rows", slice(None)), border_length("rows", slice(None, None, -1))
    left, right = border_length("columns", slice(None)), border_length("columns", slice(None, None, -1))
    return pixels[top : pixels.shape[0] - bottom, left : pixels.shape[1] - right]


def resize_square(pixels, image_size, crop="stretch"):
    """Resize 8-bit gray pixels to ``image_size`` x ``image_size``.

    Inputs:
    - pixels: uint8 array (H, W).
    - image_size: int S >= 1.
    - crop: ``"stretch"`` (whole image, aspect ratio not kept) or ``"center"`` (largest centred
      square, aspect ratio kept); with a ``"borders+"`` prefix, uniform borders are cut off first.

    Returns:
    - uint8 array (S, S), a new array. Each axis uses BOX when shrinking, BILINEAR when growing.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}; got {crop!r}")
    if crop.startswith("borders+"):
        pixels, crop = remove_uniform_borders(pixels), crop[len("borders+") :]
    height, width = pixels.shape
    if crop == "center":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        pixels = pixels[top : top + side, left : left + side]
        height = width = side
    image = Image.fromarray(np.ascontiguousarray(pixels), mode="L")
    if width != image_size:
        resample = SHRINK_RESAMPLER if width > image_size else ENLARGE_RESAMPLER
        image = image.resize((image_size, height), resample=resample)
    if height != image_size:
        resample = SHRINK_RESAMPLER if height > image_size else ENLARGE_RESAMPLER
        image = image.resize((image_size, image_size), resample=resample)
    return np.array(image, dtype=np.uint8)


def decode_image(path, image_size, crop="stretch"):
    """Decode, convert and resize one file.

    Inputs:
    - path: str or Path of the image file.
    - image_size: int S.
    - crop: ``"stretch"`` or ``"center"``.

    Returns:
    - (pixels, pixel_hash): uint8 array (S, S) and the sha256 hex digest of the decoded
      8-bit pixels before resizing.

    Raises:
    - OSError, PIL.UnidentifiedImageError, ValueError, ...: whatever Pillow raises for an
      unreadable, truncated or non-image file (``decode_file`` turns them into a reason string).
    """
    gray = read_gray8(path)
    pixel_hash = hashlib.sha256(np.ascontiguousarray(gray)).hexdigest()
    return resize_square(gray, image_size, crop), pixel_hash


def read_gray8(path):
    """Decode a file to upright 8-bit grayscale pixels at its own size.

    Inputs:
    - path: str or Path of the image file.

    Returns:
    - uint8 array (H, W), after the EXIF orientation is applied.
    """
    with Image.open(path) as image:
        image.load()  # decode now, so that a truncated file fails here
        bits = png_significant_bits(path) if image.format == "PNG" else None
        image = ImageOps.exif_transpose(image)
        gray = to_gray8(image, bits)
    if gray.size == 0:
        raise ValueError("image has no pixels")
    return gray


def decode_file(job):
    """Worker entry point: decode one file and never raise for a bad file.

    Inputs:
    - job: tuple (path, image_size, crop).

    Returns:
    - (pixels, pixel_hash, None) on success, or (None, None, reason) with a one-line reason
      such as ``"zero-byte file"`` or ``"not an image (cannot identify image file)"``.
    """
    path, image_size, crop = job
    try:
        return (*decode_image(path, image_size, crop), None)
    except Exception as error:  # a bad file must not stop the other 6,000
        return None, None, describe_decode_error(path, error)


def describe_decode_error(path, error):
    """One line saying why ``path`` could not be decoded."""
    try:
        if os.path.getsize(path) == 0:
            return "zero-byte file"
    except OSError:
        pass
    if isinstance(error, UnidentifiedImageError):
        return "not an image (Pillow cannot identify it)"
    if isinstance(error, (PermissionError, FileNotFoundError, IsADirectoryError)):
        return f"cannot read file: {error.strerror}"
    text = str(error).split("\n")[0]
    if "truncated" in text.lower():
        return f"truncated image: {text}"
    return f"corrupt image ({type(error).__name__}: {text})"
