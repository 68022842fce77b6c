"""Write files atomically: to a temporary file in the same folder, then rename over the target.

A crash, a full disk or Ctrl-C in the middle of a write leaves the old file (or no file), never a
half-written one, because ``os.replace`` within one filesystem is atomic.
"""

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["TEMP_PREFIX", "atomic_open", "write_text", "write_json", "save_npz"]

# Every temporary file starts with this, so a folder's leftovers (after a power cut, say) can be found.
TEMP_PREFIX = ".tmp-minimtl-"


@contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file beside ``path``; on a clean exit it is flushed, synced and renamed to
    ``path``; on any exception (Ctrl-C included) it is deleted and ``path`` is left as it was.

    Inputs: path (str or Path; missing parent folders are created), mode ("w" text or "wb" binary).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Leave nothing half-written behind, whatever stopped us (KeyboardInterrupt included).
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def write_text(path, text):
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npz(path, arrays):
    """np.savez (uncompressed: checkpoints hold hundreds of MB of weights) to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)
