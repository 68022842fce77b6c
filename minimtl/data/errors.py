"""The two exceptions of the data side.

``DataError`` is any problem with the images the user pointed us at (a corrupt file in
``--strict`` mode, an unknown layout, a split file that no longer matches the data).
``NoDataFound`` is the special case "there is nothing here at all". Where nobody named the folder
(no ``--data-dir``, no ``$MINIMTL_DATA``: the default ``data/``), the command line answers it by
saying so in one line and falling back to synthetic phantoms; a folder the user named is never
replaced by phantoms (``load.find_images`` turns it into a DataError naming the folder).
"""

__all__ = ["DataError", "NoDataFound"]


class DataError(Exception):
    """The data folder or a split file cannot be used as it is; the message says which file and why."""


class NoDataFound(DataError):
    """No image in any recognised layout below the data folder (or the folder does not exist)."""
