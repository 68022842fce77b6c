"""Helpers for the data tests: tiny image files and folder trees, generated in tmp_path.

No image is committed: every file is drawn here from a seed. Each file gets its own seed so that
no two files have identical pixels unless a test asks for it.
"""

import itertools
import struct
import zlib

import numpy as np
from PIL import Image

__all__ = [
    "gray",
    "write_image",
    "add_png_chunk",
    "build_kermany",
    "build_nlm",
    "build_generic",
    "build_external",
    "KERMANY_FILES",
]

_seeds = itertools.count(1000)

# Names as in the real set: NORMAL holds IM-* and NORMAL2-IM-*, PNEUMONIA person*_{bacteria,virus}_*.
KERMANY_FILES = {
    "train": {
        "NORMAL": ["IM-0117-0001.jpeg", "NORMAL2-IM-0117-0001.jpeg", "NORMAL2-IM-0117-0002.jpeg"],
        "PNEUMONIA": ["person1_bacteria_1.jpeg", "person1_bacteria_2.jpeg", "person22_virus_50.jpeg"],
    },
    "test": {
        "NORMAL": ["IM-0001-0001.jpeg", "NORMAL2-IM-0005-0001-0001.jpeg"],
        "PNEUMONIA": ["person100_bacteria_475.jpeg", "person447_virus_921_1.jpeg"],
    },
    "val": {"NORMAL": ["NORMAL2-IM-1427-0001.jpeg"], "PNEUMONIA": ["person1946_bacteria_4874.jpeg"]},
}


def gray(height=20, width=24, seed=None):
    """Random uint8 pixels (height, width); a fresh seed each call unless one is given."""
    rng = np.random.default_rng(next(_seeds) if seed is None else seed)
    return rng.integers(0, 256, size=(height, width), dtype=np.uint8)


def write_image(path, pixels=None, fmt=None, **save_options):
    """Write ``pixels`` (default: fresh random gray) to ``path``; returns the pixels written.

    The format comes from ``fmt`` or the suffix (``.jpeg``/``.jpg`` -> JPEG, else PNG).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = gray() if pixels is None else pixels
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    if fmt is None:
        fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    image.save(path, format=fmt, **save_options)
    return pixels


def add_png_chunk(path, kind, data):
    """Insert a chunk (e.g. ``b"sBIT"``) right after a PNG's IHDR chunk, with a correct CRC."""
    raw = path.read_bytes()
    ihdr_end = 8 + 8 + 13 + 4
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(raw[:ihdr_end] + chunk + raw[ihdr_end:])


def build_kermany(root, splits=("train", "test")):
    """Write ``root/chest_xray/<split>/<CLASS>/<name>`` for ``KERMANY_FILES``; returns the tree root."""
    tree = root / "chest_xray"
    for split in splits:
        for cls, names in KERMANY_FILES[split].items():
            for name in names:
                write_image(tree / split / cls / name)
    return tree


def build_nlm(folder, prefix="CHNCXR", labels=(0, 0, 1, 1), start=1):
    """Write ``<prefix>_<nnnn>_<label>.png`` files into ``folder``; returns their names."""
    names = []
    for k, label in enumerate(labels):
        name = f"{prefix}_{start + k:04d}_{label}.png"
        write_image(folder / name)
        names.append(name)
    return names


def build_generic(root, counts):
    """Write ``root/<class>/img<k>.png`` with ``counts[class]`` files per class."""
    for cls, count in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            write_image(root / cls / f"img{k}.png")
    return root


def build_external(root, sites):
    """Write an external TB set ``root/<site>/{normal,tb}/<site>-<class><k>.<suffix>``: sites is
    {site: (normal count, tb count, suffix)}, e.g. {"da": (4, 4, "jpg"), "db": (3, 2, "png")}."""
    for site, (normal, tb, suffix) in sites.items():
        for cls, count in (("normal", normal), ("tb", tb)):
            for k in range(count):
                write_image(root / site / cls / f"{site}-{cls}{k}.{suffix}")
    return root
