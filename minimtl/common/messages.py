"""Errors as messages for people: one short line, never a dump."""

__all__ = ["one_line", "plural"]


def one_line(error, limit=160):
    """``"Type: message"`` of an exception on one line, cut to ``limit`` characters (some exceptions
    quote the bytes of a damaged file, hundreds of kilobytes of them)."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plural(count, noun):
    """'1 epoch', '3 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
