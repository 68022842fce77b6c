"""The data side of minimtl: find, decode, cache and split the chest X-ray images.

``load_collection`` (and ``load_or_phantoms``, which falls back to ``make_phantoms``) gives a
``Collection``; ``make_split`` gives a ``Split`` with its leak report; ``summarize`` describes both.
"""

from minimtl.data.batches import to_input
from minimtl.data.collection import Collection
from minimtl.data.errors import DataError, NoDataFound
from minimtl.data.leaks import duplicate_groups, leak_report, linked_groups
from minimtl.data.load import count_image_files, load_collection, load_or_phantoms, resolve_data_dir
from minimtl.data.phantoms import make_phantoms
from minimtl.data.splits import SPLIT_METHODS, Split, make_split
from minimtl.data.summary import format_summary, summarize

__all__ = [
    "Collection",
    "DataError",
    "NoDataFound",
    "load_collection",
    "load_or_phantoms",
    "count_image_files",
    "resolve_data_dir",
    "make_phantoms",
    "Split",
    "make_split",
    "SPLIT_METHODS",
    "linked_groups",
    "duplicate_groups",
    "leak_report",
    "summarize",
    "format_summary",
    "to_input",
]
