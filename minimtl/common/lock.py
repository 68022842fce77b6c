"""One writer per run folder: an exclusive lock that names its owner and dies with it.

``claim(folder)`` opens ``folder/.run.lock`` and takes an exclusive ``flock`` on it without
waiting. The file names its owner (process id, host, start time) for the message a second writer
sees, and it exists only while a writer works: the writer removes it when it is done, however its
``with`` block ends (an error and Ctrl-C included), so a finished run does not read as one still
running. A writer killed outright (kill -9, a power cut) cannot remove it; the kernel still
releases the lock when the process ends, so such a file blocks no one, and the next writer takes
it over.
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
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block; remove the
    lock file when the block ends.

    Raises FolderBusy, naming the owner, when another process holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = _lock_the_file_in_the_folder(path, folder)
    try:
        stamp = f"process {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp.encode(), 0)
        yield
    finally:
        # Remove the name while still holding the lock: a writer that opened this file meanwhile
        # finds, once it gets the lock, that the file is no longer the folder's and starts over.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)  # closing the file releases the lock


def _lock_the_file_in_the_folder(path, folder):
    """An open descriptor of ``path``, exclusively locked, that is still the file at ``path``."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise FolderBusy(
                f"{folder} is being written by {owner}; wait until it finishes (or stop it), then try again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            still_there = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            still_there = False
        if still_there:
            return fd
        os.close(fd)  # the previous writer removed it between our open and our lock: open the new one
