"""Errors as messages for people: one short line, never a dump."""

import re

__all__ = ["one_line", "plural"]

_BYTES = re.compile(r"""b(['"])(?:\\.|(?!\1).)*\1""")  # a bytes literal in a message: b'..' or b".."


def one_line(error, limit=160):
    """``"Type: message"`` of an exception on one line, with quoted bytes left out and cut to ``limit``
    characters (zipfile quotes the damaged bytes of a file, hundreds of kilobytes of them)."""
    text = _BYTES.sub("<bytes>", " ".join(f"{type(error).__name__}: {error}".split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plural(count, noun):
    """'1 epoch', '3 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
