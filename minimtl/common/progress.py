"""How code below the commands reports progress without knowing about terminals.

A *progress factory* is a callable ``progress(label, length, status=None)`` returning a context
manager with an ``update(n)`` method: a bar of ``length`` steps, advanced by ``update``;
``status()`` (optional) returns a short text shown beside the bar (the running loss, say). The
commands pass one that draws a click progress bar on stderr; the library's default draws nothing.
Messages for the user go through an ``echo(text)`` callable in the same way.
"""

import sys
from contextlib import nullcontext

__all__ = ["no_progress", "echo_stderr"]


class _Silent:
    def update(self, n=1):
        """Advance nothing: no bar is shown."""


def no_progress(label, length, status=None):
    """The progress factory that shows nothing."""
    return nullcontext(_Silent())


def echo_stderr(text):
    """The default ``echo``: one line on stderr."""
    print(text, file=sys.stderr)
