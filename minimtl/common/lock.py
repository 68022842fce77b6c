"""One writer per run folder: an exclusive lock that names its owner and dies with it.

``claim(folder)`` opens ``folder/.run.lock`` and takes an exclusive ``flock`` on it without
waiting. The kernel releases the lock when the process ends, however it ends (kill -9
included), so a lock left by a dead writer never blocks anyone; the file itself stays, holding
the last owner's process id, host and start time for the message a second writer sees.
"""

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_NAME", "FolderBusy", "claim"]

LOCK_NAME = ".run.lock"


class FolderBusy(Exception):
    """Another live process holds the folder's lock."""


@contextmanager
def claim(folder):
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    Raises FolderBusy, naming the owner, when another process holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise FolderBusy(
                f"{folder} is being written by {owner}; wait until it finishes (or stop it), then try again"
            ) from None
        stamp = f"process {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
