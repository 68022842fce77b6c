"""One checkpoint file per run: weights, optimiser state, RNG state and progress, written atomically.

Everything lives in a single ``.npz`` so that the weights and the state that goes with them can
never come from two different epochs: the file is replaced whole (see ``minimtl.common.atomic``).

Keys: ``param/<name>`` for each weight array, ``optim/<key>`` for each entry of the optimiser's
``state_dict()`` (Adam: ``t``, ``m/<name>``, ``v/<name>``), and ``state_json``: a JSON string with
the epoch, the shuffling RNG's state, the history so far and, after a Ctrl-C in the middle of an
epoch, where in the epoch we stopped.
"""

import json
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from minimtl.common.atomic import save_npz
from minimtl.common.messages import one_line

__all__ = ["save_checkpoint", "load_checkpoint", "load_params", "CheckpointError"]

# what a truncated, bit-flipped or foreign file raises somewhere inside np.load and zipfile
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class CheckpointError(Exception):
    """A checkpoint that is missing, unreadable or does not fit the model (the message names the file)."""


def save_checkpoint(path, params, optimizer_state, state):
    """Write params (dict name -> array), optimizer_state (the optimiser's flat ``state_dict()``)
    and a JSON-ready ``state`` dict to ``path`` atomically."""
    arrays = {f"param/{name}": array for name, array in params.items()}
    arrays.update({f"optim/{key}": array for key, array in optimizer_state.items()})
    arrays["state_json"] = np.asarray(json.dumps(state))
    save_npz(path, arrays)


@contextmanager
def _reading(path):
    """np.load of ``path``; any failure to read it, now or while its members are read inside the
    ``with`` block, becomes one CheckpointError naming the file."""
    if not Path(path).is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        stored = np.load(path, allow_pickle=False)
        if not isinstance(stored, np.lib.npyio.NpzFile):  # a bare .npy array, not an archive
            raise ValueError("a single array, not an archive of named arrays")
        with stored:
            yield stored
    except _READ_ERRORS as error:
        if isinstance(error, ValueError) and "pickled" in str(error):
            raise CheckpointError(f"{path} is not a checkpoint (not a .npz archive of arrays)") from None
        raise CheckpointError(f"{path} is damaged and cannot be read ({one_line(error)})") from None


def _copy_into(target, source, name, path):
    if target.shape != source.shape:
        raise CheckpointError(f"{path}: {name} has shape {source.shape}, the model expects {target.shape}")
    target[...] = source  # in place: the layers and the optimiser keep their references


def load_params(path, params):
    """Copy the weights stored in ``path`` into the model's ``params`` arrays, in place."""
    with _reading(path) as stored:
        for name, array in params.items():
            key = f"param/{name}"
            if key not in stored.files:
                raise CheckpointError(f"{path} has no weights for {name}; was it written by another architecture?")
            _copy_into(array, stored[key], name, path)


def load_checkpoint(path, params, optimizer):
    """Restore weights and optimiser state in place; return the saved ``state`` dict."""
    load_params(path, params)
    with _reading(path) as stored:
        prefix = "optim/"
        optimizer.load_state_dict({key[len(prefix) :]: stored[key] for key in stored.files if key.startswith(prefix)})
        return json.loads(str(stored["state_json"]))
