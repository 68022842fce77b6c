"""A TB test set from another hospital: ``<root>/<site>/{normal,tb}/*.png`` (an external site).

External sites score finished models; they never train, validate or choose anything (see
``/work/shared/external/README.md`` for the Indian DA and DB sets). Two layouts are accepted:

``<root>/<site>/{normal,tb}/<image>``
    several sites (``india/da/``, ``india/db/``): each folder holding ``normal/`` and ``tb/``
    folders is one site, named after the folder.
``<root>/{normal,tb}/<image>``
    one site, named after ``<root>``.

Class folders are matched without regard to case; ``normal`` is label 0 and ``tb`` label 1, dataset
``"tb"``, one patient per image. Only ``.png``/``.jpg``/``.jpeg`` files directly inside a class folder
count; hidden files and folders and ``__MACOSX`` are skipped; other files (a ``MANIFEST.csv``) are
left alone. Anything else below a site (an image outside ``normal/``/``tb/``, another class folder)
makes the folder ambiguous: it is refused with a message naming the layouts above, never guessed at.
"""

from pathlib import Path

from minimtl.common.progress import no_progress
from minimtl.data.decode import CROPS
from minimtl.data.errors import DataError
from minimtl.data.layouts import IMAGE_SUFFIXES, ImageRecord
from minimtl.data.load import decode_records, records_to_collection

__all__ = [
    "ExternalSetError",
    "EXTERNAL_LAYOUTS",
    "TB_CLASSES",
    "find_external_sites",
    "is_external_tb_set",
    "load_external",
]

TB_CLASSES = {"normal": 0, "tb": 1}
EXTERNAL_LAYOUTS = (
    "<root>/<site>/{normal,tb}/*.png|jpg|jpeg (one folder per site, e.g. india/da/, india/db/)",
    "<root>/{normal,tb}/*.png|jpg|jpeg (one site, named after <root>)",
)


class ExternalSetError(DataError):
    """A folder that cannot be read as an external TB set; the message names the accepted layouts."""


def _accepted():
    return "An external TB set is laid out as " + " or as ".join(EXTERNAL_LAYOUTS) + "."


def _visible_dirs(folder):
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise ExternalSetError(f"cannot read folder {folder}: {error.strerror or error}") from None
    return [p for p in entries if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX"]


def _images_in(folder):
    """Image files directly inside ``folder`` (sorted, hidden files left out)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise ExternalSetError(f"cannot read folder {folder}: {error.strerror or error}") from None
    return [
        p for p in entries if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(IMAGE_SUFFIXES)
    ]


def _class_dirs(folder):
    """{class name: folder} of the ``normal``/``tb`` folders directly inside ``folder``."""
    return {p.name.lower(): p for p in _visible_dirs(folder) if p.name.lower() in TB_CLASSES}


def find_external_sites(data_dir):
    """The sites of an external TB set: {site name: {class: folder}}, sites in name order.

    Raises ExternalSetError (naming the accepted layouts) when ``data_dir`` is missing or is not laid
    out as one, with what was found instead.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise ExternalSetError(f"{root} is not a folder. {_accepted()}")
    sites, problems = {}, []
    if _class_dirs(root):
        candidates = {root.resolve().name or "external": root}
    else:
        candidates = {p.name: p for p in _visible_dirs(root)}
        loose = _images_in(root)
        if loose:
            problems.append(f"{root} holds images outside any site folder (e.g. {loose[0].name})")
    for name, folder in candidates.items():
        classes = _class_dirs(folder)
        others = [p.name for p in _visible_dirs(folder) if p.name.lower() not in TB_CLASSES]
        loose = _images_in(folder)
        if not classes:
            if loose or others:
                problems.append(f"{folder} has no normal/ or tb/ folder")
            continue
        if others or loose:
            what = [f"folder {n}/" for n in others] + [f"image {p.name}" for p in loose[:3]]
            problems.append(f"{folder} holds {', '.join(what)} beside its class folders (only normal/ and tb/)")
        for class_dir in classes.values():
            if _visible_dirs(class_dir):
                problems.append(f"{class_dir} holds folders; images must lie directly inside it")
            if not _images_in(class_dir):
                problems.append(f"{class_dir} holds no .png/.jpg/.jpeg file")
        sites[name] = classes
    if problems:
        raise ExternalSetError(f"{root} cannot be read as an external TB set: {'; '.join(problems)}. {_accepted()}")
    if not sites:
        raise ExternalSetError(f"{root} holds no site with normal/ and tb/ image folders. {_accepted()}")
    return sites


def is_external_tb_set(data_dir):
    """True when ``data_dir`` itself, or a folder directly inside it, holds a ``normal/`` and a ``tb/``
    folder: the sign of an external TB set (whether it is a valid one, :func:`find_external_sites` says).
    The training layouts never look like this (Kermany's class folders are NORMAL and PNEUMONIA)."""
    root = Path(data_dir)
    if not root.is_dir():
        return False
    try:
        folders = [root, *_visible_dirs(root)]
        return any(set(_class_dirs(folder)) == set(TB_CLASSES) for folder in folders)
    except ExternalSetError:
        return False


def load_external(data_dir, image_size, crop="stretch", strict=False, progress=no_progress):
    """Decode an external TB set into a Collection (dataset ``"tb"``, site = the site folder's name).

    Inputs:
    - data_dir: the set's root folder (str or Path)
    - image_size: int S; crop: how to make the images square (:data:`minimtl.data.decode.CROPS`), the
      run's own, so the model sees them as it saw its training images
    - strict: make an unreadable image an error (else it is skipped and listed in ``skipped``)
    - progress: a progress factory (:mod:`minimtl.common.progress`)

    Returns a Collection sorted by (site, path); ``official_split`` is "" and ``label_names``
    ``{"tb": ("normal", "tb")}``. Raises ExternalSetError for a folder laid out otherwise, DataError
    when (strict) an image cannot be decoded or no image can.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}; got {crop!r}")
    root = Path(data_dir)
    records, sites = [], []
    for site, classes in find_external_sites(root).items():
        for cls, folder in sorted(classes.items()):
            for file in _images_in(folder):
                stat = file.stat()
                path = file.relative_to(root).as_posix()  # the folders were listed from root down
                records.append(
                    ImageRecord(
                        path=path,
                        dataset="tb",
                        site=site,
                        label=TB_CLASSES[cls],
                        patient=f"{site}:{Path(path).stem}",
                        official_split="",
                        size=stat.st_size,
                        mtime_ns=stat.st_mtime_ns,
                    )
                )
                sites.append(site)
    order = sorted(range(len(records)), key=lambda i: (sites[i], records[i].path))
    records = [records[i] for i in order]
    decoded = decode_records(root, records, image_size, crop, progress)
    if decoded.failures and strict:
        listed = "\n  ".join(f"{path}: {reason}" for path, reason in decoded.failures)
        raise DataError(f"{len(decoded.failures)} image(s) of {root} cannot be decoded:\n  {listed}")
    decoded_paths = set(decoded.paths)
    kept = [r for r in records if r.path in decoded_paths]
    if not kept:
        raise DataError(
            f"no image of {root} could be decoded (e.g. {decoded.failures[0][0]}: {decoded.failures[0][1]})"
        )
    return records_to_collection(
        kept, decoded, root, image_size, crop, skipped=list(decoded.failures), label_names={"tb": ("normal", "tb")}
    )
