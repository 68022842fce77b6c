"""An on-disk cache of decoded images, so that the second run starts in seconds.

One cache entry is two files in the cache folder, named by a key:

- ``images-<key>.npy``: the uint8 array (M, S, S) of the images that decoded;
- ``images-<key>.json``: the index: their paths and pixel hashes in the same order, the files
  that failed to decode and why, and the sha256 of the array's bytes.

The key is a sha256 over the cache format version, the data folder's real path, the image size,
the crop, and every file's relative path, size and modification time. A changed, added or removed
file therefore gives a new key (a stale entry is never looked up again). An entry that does not
check out (unreadable JSON, wrong shape, bytes whose sha256 differs) is reported and rebuilt,
never trusted. Both files are written atomically, the array first and the index last, so a crash
or Ctrl-C leaves either no entry or a whole one. Old entries are not deleted automatically:
remove the folder to reclaim the space.

The cache folder is ``$MINIMTL_CACHE``, else ``$XDG_CACHE_HOME/minimtl``, else
``~/.cache/minimtl``; never the data folder, which may be read-only and shared.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minimtl.common.atomic import atomic_open, remove_temp_files, write_text

__all__ = ["DecodedImages", "default_cache_dir", "cache_key", "read_cache", "write_cache", "CACHE_VERSION"]

CACHE_VERSION = 1
_STALE_TEMP_SECONDS = 3600


@dataclass
class DecodedImages:
    """Decoded pixels for a list of files.

    - images: uint8 array (M, S, S), one row per file that decoded.
    - paths: list of M relative paths, in the order of ``images``.
    - pixel_hash: list of M sha256 hex digests of the decoded pixels.
    - failures: list of (path, reason) for the files that did not decode.
    """

    images: np.ndarray
    paths: list
    pixel_hash: list
    failures: list


def default_cache_dir():
    """The cache folder: ``$MINIMTL_CACHE``, else ``$XDG_CACHE_HOME/minimtl``, else ``~/.cache/minimtl``."""
    if os.environ.get("MINIMTL_CACHE"):
        return Path(os.environ["MINIMTL_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minimtl"
    return Path.home() / ".cache" / "minimtl"


def cache_key(data_dir, records, image_size, crop):
    """The sha256 hex digest naming the cache entry for these files and options.

    Inputs:
    - data_dir: str or Path of the data folder.
    - records: sequence of ImageRecord (path, size and mtime_ns are used).
    - image_size: int S; crop: str.

    Returns:
    - str, 64 hex digits.
    """
    description = {
        "version": CACHE_VERSION,
        "data_dir": os.path.realpath(data_dir),
        "image_size": int(image_size),
        "crop": crop,
        "files": [[r.path, r.size, r.mtime_ns] for r in records],
    }
    return hashlib.sha256(json.dumps(description).encode("utf-8")).hexdigest()


def _entry_paths(cache_dir, key):
    stem = Path(cache_dir) / f"images-{key[:32]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


def read_cache(cache_dir, key, expected_paths, image_size):
    """Load a cache entry if it exists and checks out.

    Inputs:
    - cache_dir: str or Path; key: str from ``cache_key``.
    - expected_paths: list of the relative paths the entry must cover, in order.
    - image_size: int S.

    Returns:
    - (DecodedImages or None, problem): ``(decoded, None)`` on a hit; ``(None, None)`` when there
      is no entry; ``(None, "why")`` when an entry exists but is corrupt (it will be rebuilt).
    """
    npy_path, json_path = _entry_paths(cache_dir, key)
    if not json_path.exists():
        return None, None
    try:
        index = json.loads(json_path.read_text(encoding="utf-8"))
        if index.get("version") != CACHE_VERSION or index.get("key") != key:
            return None, f"{json_path.name} belongs to another key or format"
        paths = list(index["paths"])
        failures = [tuple(item) for item in index["failures"]]
        if sorted(paths + [p for p, _ in failures]) != sorted(expected_paths):
            return None, f"{json_path.name} lists other files than the data folder holds"
        images = np.load(npy_path, allow_pickle=False)
        if images.dtype != np.uint8 or images.shape != (len(paths), image_size, image_size):
            return None, f"{npy_path.name} has shape {images.shape} {images.dtype}"
        if hashlib.sha256(np.ascontiguousarray(images)).hexdigest() != index["images_sha256"]:
            return None, f"{npy_path.name} does not match the checksum in {json_path.name}"
        hashes = list(index["pixel_hash"])
        if len(hashes) != len(paths):
            return None, f"{json_path.name} has {len(hashes)} hashes for {len(paths)} images"
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
        return None, f"cannot read the entry {npy_path.stem}: {type(error).__name__}: {error}"
    return DecodedImages(images, paths, hashes, failures), None


def write_cache(cache_dir, key, decoded):
    """Store ``decoded`` under ``key``, atomically (array first, index last).

    Inputs:
    - cache_dir: str or Path, created if missing; key: str; decoded: DecodedImages.

    Raises:
    - OSError if the folder cannot be written (the caller carries on without a cache).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(cache_dir)
    npy_path, json_path = _entry_paths(cache_dir, key)
    images = np.ascontiguousarray(decoded.images)
    with atomic_open(npy_path, "wb") as handle:
        np.save(handle, images, allow_pickle=False)
    index = {
        "version": CACHE_VERSION,
        "key": key,
        "shape": list(images.shape),
        "images_sha256": hashlib.sha256(images).hexdigest(),
        "paths": list(decoded.paths),
        "pixel_hash": list(decoded.pixel_hash),
        "failures": [list(item) for item in decoded.failures],
    }
    write_text(json_path, json.dumps(index))


def _remove_stale_temp_files(cache_dir):
    """Remove temporary files left by a process that was killed (kill -9) more than an hour ago."""
    remove_temp_files(cache_dir, older_than=_STALE_TEMP_SECONDS)
