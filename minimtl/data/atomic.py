"""Write a file so that readers see either the old content or the whole new content, never a part.

The bytes go to a temporary file in the destination folder, which ``os.replace`` then renames over
the destination (a rename within one folder is atomic on POSIX and Windows). If anything goes
wrong, Ctrl-C included, the temporary file is removed before the exception travels on.
"""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_writer", "write_text_atomic", "TEMP_PREFIX"]

TEMP_PREFIX = ".tmp-minimtl-"


@contextmanager
def atomic_writer(path):
    """Open a binary temporary file beside ``path``; on a clean exit it becomes ``path``.

    Inputs:
    - path: str or Path, the file to create or replace; its folder must exist.

    Yields:
    - a binary file object to write to. Leaving the ``with`` block normally flushes, fsyncs and
      renames it to ``path``; leaving it with an exception deletes it.
    """
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(
        mode="wb", dir=path.parent, prefix=TEMP_PREFIX, suffix=path.suffix, delete=False
    )
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        # BaseException, so that Ctrl-C (KeyboardInterrupt) also leaves nothing half-written.
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Inputs:
    - path: str or Path of the file to write.
    - text: str, the whole new content.
    """
    with atomic_writer(path) as handle:
        handle.write(text.encode("utf-8"))
