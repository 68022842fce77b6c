"""Write files atomically: to a temporary file in the same folder, then rename over the target.

A crash, a full disk or Ctrl-C in the middle of a write leaves the old file (or no file), never a
half-written one, because ``os.replace`` within one filesystem is atomic. A process killed with
kill -9 in the middle of a write cannot delete its temporary file: ``remove_temp_files`` clears
such leftovers (a run folder does it on every start, under its lock).

Text files are UTF-8; a file name that is not valid UTF-8 (Python holds it with surrogate escapes)
is written back as its original bytes rather than crashing the write. Files get the permissions
the user's umask allows, as ``open`` would give them.
"""

import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["TEMP_PREFIX", "atomic_open", "write_text", "write_json", "save_npz", "remove_temp_files"]

# Every temporary file starts with this, so a folder's leftovers (after a power cut, say) can be found.
TEMP_PREFIX = ".tmp-minimtl-"


def _umask():
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file beside ``path``; on a clean exit it is flushed, synced and renamed to
    ``path``; on any exception (Ctrl-C included) it is deleted and ``path`` is left as it was.

    Inputs: path (str or Path; missing parent folders are created), mode ("w" text or "wb" binary).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        text = {} if "b" in mode else {"encoding": "utf-8", "errors": "surrogateescape"}
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        # Leave nothing half-written behind, whatever stopped us (KeyboardInterrupt included).
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        if isinstance(error, OSError):  # a full disk, say: name the file we were writing
            raise _naming(error, path) from None
        raise


def _naming(error, path):
    """The same OSError (same subclass, errno and message) with ``path`` as its file name, when the
    error came from a file object that knows no name."""
    if error.filename is not None or error.errno is None:
        return error
    return OSError(error.errno, error.strerror, str(path))  # OSError(errno, ...) picks the subclass


def write_text(path, text):
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npz(path, arrays):
    """np.savez (uncompressed: checkpoints hold hundreds of MB of weights) to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def remove_temp_files(folder, older_than=0.0):
    """Delete the temporary files in ``folder`` that ``atomic_open`` left behind (a killed writer's),
    if they are older than ``older_than`` seconds. Returns (files removed, bytes freed)."""
    removed, freed, now = 0, 0, time.time()
    for path in Path(folder).glob(TEMP_PREFIX + "*"):
        try:
            info = path.stat()
            if now - info.st_mtime >= older_than:
                path.unlink()
                removed, freed = removed + 1, freed + info.st_size
        except OSError:  # gone already, or not ours to delete: leave it
            pass
    return removed, freed
