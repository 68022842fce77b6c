"""Find the chest X-ray images below a data folder and say what each one is.

Three layouts are recognised (``layout="auto"`` tries the first two, then the third only if
neither matched anything):

``kermany``
    Kermany et al. 2018 as on Kaggle: ``.../chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg``
    wherever ``chest_xray`` sits. Dataset ``"pneumonia"``, site ``"kermany"``, label 1 = PNEUMONIA,
    ``official_split`` = the split folder. The Kaggle zip holds the tree twice
    (``chest_xray/`` and ``chest_xray/chest_xray/``): an image with the same split, class, file
    name and size in two trees is counted once (the shallowest copy is kept); two files with the
    same split, class and name but different sizes are a conflict (below).
``nlm``
    The NLM tuberculosis sets: files ``CHNCXR_0001_0.png`` (Shenzhen) and ``MCUCXR_0001_0.png``
    (Montgomery) anywhere. The digit before ``.png`` is the label (1 = TB), each file is one
    patient, each prefix its own site, dataset ``"tb"``. Folders whose name contains ``mask``
    are ignored: the Montgomery lung masks use the same file names as the X-rays. Files with the
    same name and the same bytes are one image, counted once; the same name with other bytes is a
    conflict (below).
``generic``
    ``<root>/<class>/*.{png,jpg,jpeg}``. The root is the data folder; if none of its folders
    holds images directly, each of its folders is tried as a root (so ``data/mine/{0,1}/`` also
    works). The dataset and site are the root folder's name, one patient per image, classes are
    the folders holding images, sorted by name and numbered 0, 1, ...; when there are exactly two
    and exactly one is called like ``normal``/``0``/``negative``, that one is 0 and the other 1.
    Only files directly inside a class folder count. ``layout="auto"`` takes this layout only where
    it is unambiguous: every image file below the data folder lies directly in a class folder of a
    root. Image files anywhere else (loose in the data folder, in folders deeper down, as in a
    temporary folder full of other programs' pictures) leave it untaken, and the error says where.

A conflict (two different files that claim the same image) is never resolved by picking one:
``scan_data_dir`` raises a DataError naming both files.

Everywhere: folders called ``__MACOSX`` and hidden files or folders are skipped, and only
``.png``/``.jpg``/``.jpeg`` files (any case) are looked at.
"""

import filecmp
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from minimtl.data.errors import DataError, NoDataFound

__all__ = [
    "ImageRecord",
    "Scan",
    "scan_data_dir",
    "kermany_patient_id",
    "LAYOUTS",
    "IMAGE_SUFFIXES",
    "NEGATIVE_CLASS_NAMES",
]

LAYOUTS = ("auto", "kermany", "nlm", "generic")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
KERMANY_SPLITS = ("train", "test", "val")
KERMANY_CLASSES = {"normal": 0, "pneumonia": 1}
NLM_SITES = {"CHNCXR": "shenzhen", "MCUCXR": "montgomery"}
NLM_NAME = re.compile(r"^(CHNCXR|MCUCXR)_(\d+)_(\d+)\.png$", re.IGNORECASE)
NEGATIVE_CLASS_NAMES = ("0", "normal", "negative", "neg", "healthy", "no", "false", "no_finding")
LABEL_NAMES = {"pneumonia": ("normal", "pneumonia"), "tb": ("normal", "tb")}

# person1234_bacteria_3179 -> person1234 (also person447_virus_921_1);
# IM-0117-0001 -> IM-0117; NORMAL2-IM-0117-0001-0002 -> NORMAL2-IM-0117.
_PERSON = re.compile(r"^(person\d+)(?:_|$)", re.IGNORECASE)
_IM = re.compile(r"^((?:NORMAL\d*-)?IM-\d+)(?:-|$)", re.IGNORECASE)


@dataclass(frozen=True)
class ImageRecord:
    """One image file and what its place in the tree says about it.

    - path: str, relative to the data folder with ``/`` separators.
    - dataset, site, patient (namespaced ``site:id``), official_split: str.
    - label: int, 0/1 within the dataset (generic layouts: the class number).
    - size, mtime_ns: int, from ``os.stat``; they key the decode cache.
    - layout: str, the layout that recognised the file (``"kermany"``, ``"nlm"``, ``"generic"``).
    """

    path: str
    dataset: str
    site: str
    label: int
    patient: str
    official_split: str
    size: int
    mtime_ns: int
    layout: str = ""


@dataclass
class Scan:
    """What ``scan_data_dir`` found.

    - records: list of ImageRecord, sorted by (dataset, path).
    - skipped: list of (path, reason) for files and folders that could not be used.
    - ignored: list of image paths outside any recognised layout (not errors).
    - label_names: dict dataset -> tuple of class names, indexed by label.
    - layouts: the layouts that matched, e.g. ["kermany", "nlm"].
    - conflicts: list of (what is claimed, [paths]): different files that claim the same image.
    - generic_problem: str, why the generic layout was not taken ("" when it was, or was not tried).
    """

    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    ignored: list = field(default_factory=list)
    label_names: dict = field(default_factory=dict)
    layouts: list = field(default_factory=list)
    conflicts: list = field(default_factory=list)
    generic_problem: str = ""


@dataclass(frozen=True)
class _File:
    parts: tuple  # path parts relative to the data folder, file name last
    size: int
    mtime_ns: int

    @property
    def path(self):
        return "/".join(self.parts)


def kermany_patient_id(file_name):
    """Patient id from a Kermany file name; when in doubt it groups more, never less.

    Inputs:
    - file_name: str such as ``person1234_bacteria_3179.jpeg`` or ``NORMAL2-IM-0117-0001.jpeg``.

    Returns:
    - str: ``person1234``, ``NORMAL2-IM-0117``, ``IM-0117``; any other name gives its stem
      with trailing ``-123``/``_123`` number groups removed.
    """
    stem = file_name.rsplit(".", 1)[0]
    for pattern in (_PERSON, _IM):
        match = pattern.match(stem)
        if match:
            return match.group(1)
    shortened = re.sub(r"(?:[-_]\d+)+$", "", stem)
    return shortened or stem


def scan_data_dir(data_dir, layout="auto"):
    """Walk ``data_dir`` and classify every image file.

    Inputs:
    - data_dir: str or Path of an existing folder.
    - layout: one of ``LAYOUTS``.

    Returns:
    - Scan (records sorted by dataset then path).

    Raises:
    - NoDataFound: no image file at all below ``data_dir``.
    - DataError: image files exist but none is in the requested (or any) layout, or no file
      could be listed because folders are unreadable.
    - ValueError: unknown ``layout``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    data_dir = Path(data_dir)
    scan = Scan()
    files, dir_image_counts = _walk(data_dir, scan.skipped)
    if not files and scan.skipped:
        problems = "; ".join(f"{path}: {reason}" for path, reason in scan.skipped[:5])
        raise DataError(f"no readable image below {data_dir} ({problems})")
    if not files:
        raise NoDataFound(f"no .png/.jpg/.jpeg file below {data_dir}")

    leftover = files
    if layout in ("auto", "kermany"):
        leftover = _take_kermany(leftover, dir_image_counts, scan)
    if layout in ("auto", "nlm"):
        leftover = _take_nlm(leftover, scan, data_dir)
    if layout == "generic" or (layout == "auto" and not scan.records):
        root_name = data_dir.resolve().name or "generic"
        leftover = _take_generic(leftover, dir_image_counts, scan, root_name, only_if_unambiguous=layout == "auto")
    scan.ignored = sorted(f.path for f in leftover)

    if scan.conflicts:
        raise DataError(_conflicts_message(scan.conflicts, data_dir))
    if not scan.records:
        examples = ", ".join(scan.ignored[:3]) or "none"
        wanted = "any recognised layout" if layout == "auto" else f"the {layout!r} layout"
        raise DataError(
            f"found {len(files)} image files below {data_dir} but none in {wanted} (e.g. {examples}). "
            "Expected chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg, "
            "CHNCXR_0001_0.png-style NLM files, or <root>/<class>/*.png folders."
            + (f" {scan.generic_problem}" if scan.generic_problem else "")
        )
    scan.records.sort(key=lambda r: (r.dataset, r.path))
    scan.skipped.sort()
    return scan


def _walk(data_dir, skipped):
    """List image files below ``data_dir`` (following links once) and count them per folder."""
    files = []
    dir_image_counts = {}
    seen_dirs = set()

    def on_error(error):
        name = error.filename or str(data_dir)
        skipped.append((_relative(data_dir, name), f"cannot read folder: {error.strerror or error}"))

    for dirpath, dirnames, filenames in os.walk(data_dir, onerror=on_error, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # a link loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        rel_dir = Path(dirpath).relative_to(data_dir).parts
        count = 0
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            full = os.path.join(dirpath, name)
            try:
                stat = os.stat(full)
            except OSError as error:
                skipped.append(("/".join(rel_dir + (name,)), f"cannot read file: {error.strerror}"))
                continue
            files.append(_File(rel_dir + (name,), stat.st_size, stat.st_mtime_ns))
            count += 1
        dir_image_counts[rel_dir] = count
    return files, dir_image_counts


def _relative(data_dir, name):
    try:
        return Path(name).relative_to(data_dir).as_posix()
    except ValueError:
        return str(name)


def _first_copies(candidates, key_of, scan, same_image, claim):
    """Keep one file per key: the shallowest (then first by path) of copies of one image.

    ``same_image(a, b)`` says whether two files with one key are copies of one image; files that are not
    are a conflict, recorded in ``scan.conflicts`` as (``claim(first file)``, their paths), and none of
    them is kept (``scan_data_dir`` then raises)."""
    kept, conflicting = {}, {}
    for file, info in sorted(candidates, key=lambda c: (len(c[0].parts), c[0].parts)):
        key = key_of(file)
        if key not in kept:
            kept[key] = (file, info)
        elif not same_image(kept[key][0], file):
            conflicting.setdefault(key, [kept[key][0]]).append(file)
    for key, files in sorted(conflicting.items()):
        scan.conflicts.append((claim(files[0]), [f"{f.path} ({f.size:,} bytes)" for f in files]))
        del kept[key]
    return list(kept.values())


def _conflicts_message(conflicts, data_dir):
    def listed(paths):
        return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")

    shown = "; ".join(f"{what}: {listed(paths)}" for what, paths in conflicts[:5])
    more = f"; ... and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    return (
        f"{len(conflicts)} image name(s) below {data_dir} are claimed by different files: {shown}{more}. Each "
        "name is one image of one patient, so minimtl will not choose one: remove or rename the files that are "
        "not the data set's, or point --data-dir at the folder that holds only the data sets."
    )


def _take_kermany(files, dir_image_counts, scan):
    """Records for files at chest_xray/<split>/<class>/<file>; returns the files not taken."""
    leftover, candidates, bad_class_dirs = [], [], set()
    for file in files:
        parts = file.parts
        in_tree = len(parts) >= 4 and parts[-4].lower() == "chest_xray" and parts[-3].lower() in KERMANY_SPLITS
        if not in_tree:
            leftover.append(file)
        elif parts[-2].lower() in KERMANY_CLASSES:
            candidates.append((file, None))
        else:
            bad_class_dirs.add(parts[:-1])
    for parts in sorted(bad_class_dirs):
        scan.skipped.append(
            (
                "/".join(parts),
                f"unknown class folder {parts[-1]!r} in a chest_xray split (expected NORMAL or PNEUMONIA)",
            )
        )
    for parts, count in dir_image_counts.items():
        is_class_dir = (
            len(parts) >= 3
            and parts[-3].lower() == "chest_xray"
            and parts[-2].lower() in KERMANY_SPLITS
            and parts[-1].lower() in KERMANY_CLASSES
        )
        if is_class_dir and count == 0:
            scan.skipped.append(("/".join(parts), "empty class folder: no .png/.jpg/.jpeg files"))

    kept = _first_copies(
        candidates,
        lambda f: tuple(p.lower() for p in f.parts[-3:]),
        scan,
        same_image=lambda a, b: a.size == b.size,  # the Kaggle zip's nested copy: same names, same sizes
        claim=lambda f: f"Kermany image {'/'.join(f.parts[-3:])}",
    )
    for file, _ in kept:
        split, cls, name = file.parts[-3].lower(), file.parts[-2].lower(), file.parts[-1]
        scan.records.append(
            ImageRecord(
                path=file.path,
                dataset="pneumonia",
                site="kermany",
                label=KERMANY_CLASSES[cls],
                patient="kermany:" + kermany_patient_id(name),
                official_split=split,
                size=file.size,
                mtime_ns=file.mtime_ns,
                layout="kermany",
            )
        )
    if kept:
        scan.layouts.append("kermany")
        scan.label_names["pneumonia"] = LABEL_NAMES["pneumonia"]
    return leftover


def _take_nlm(files, scan, data_dir):
    """Records for CHNCXR_/MCUCXR_ files; returns the files not taken."""
    leftover, candidates = [], []
    for file in files:
        match = NLM_NAME.match(file.parts[-1])
        if not match:
            leftover.append(file)
            continue
        if any("mask" in part.lower() for part in file.parts[:-1]):
            continue  # Montgomery lung masks share the X-rays' file names
        digit = match.group(3)
        if digit not in ("0", "1"):
            scan.skipped.append((file.path, f"label digit {digit!r} before .png is not 0 (normal) or 1 (TB)"))
            continue
        candidates.append((file, match))

    def same_bytes(a, b):
        return a.size == b.size and filecmp.cmp(Path(data_dir, *a.parts), Path(data_dir, *b.parts), shallow=False)

    kept = _first_copies(
        candidates,
        lambda f: f.parts[-1].upper(),
        scan,
        same_image=same_bytes,
        claim=lambda f: f"NLM image {f.parts[-1]}",
    )
    for file, match in kept:
        prefix = match.group(1).upper()
        site = NLM_SITES[prefix]
        scan.records.append(
            ImageRecord(
                path=file.path,
                dataset="tb",
                site=site,
                label=int(match.group(3)),
                patient=f"{site}:{prefix}_{match.group(2)}",
                official_split="",
                size=file.size,
                mtime_ns=file.mtime_ns,
                layout="nlm",
            )
        )
    if kept:
        scan.layouts.append("nlm")
        scan.label_names["tb"] = LABEL_NAMES["tb"]
    return leftover


def _generic_roots(dir_image_counts):
    """The folders (as path parts) whose sub-folders are classes: () itself, else its children."""

    def class_dirs(root):
        return [p for p in dir_image_counts if len(p) == len(root) + 1 and p[: len(root)] == root]

    if any(dir_image_counts[p] > 0 for p in class_dirs(())):
        return [()]
    return [child for child in sorted(class_dirs(())) if any(dir_image_counts[p] > 0 for p in class_dirs(child))]


def _take_generic(files, dir_image_counts, scan, root_name, only_if_unambiguous=False):
    """Records for <root>/<class>/<file>; returns the files not taken. ``only_if_unambiguous``: take none
    when some image file lies elsewhere than directly in a class folder (``scan.generic_problem`` says where)."""
    roots = _generic_roots(dir_image_counts)
    if only_if_unambiguous and roots:
        scan.generic_problem = _generic_ambiguity(files, roots)
        if scan.generic_problem:
            return files
    taken = set()
    for root in roots:
        name = root[-1] if root else None
        class_dirs = sorted(p for p in dir_image_counts if len(p) == len(root) + 1 and p[: len(root)] == root)
        classes = [p[-1] for p in class_dirs if dir_image_counts[p] > 0]
        for p in class_dirs:
            if dir_image_counts[p] == 0:
                scan.skipped.append(("/".join(p), "empty class folder: no .png/.jpg/.jpeg files"))
        label_of = _generic_labels(classes)
        dataset = name or root_name
        for file in files:
            if len(file.parts) == len(root) + 2 and file.parts[: len(root)] == root:
                cls = file.parts[-2]
                stem = file.parts[-1].rsplit(".", 1)[0]
                scan.records.append(
                    ImageRecord(
                        path=file.path,
                        dataset=dataset,
                        site=dataset,
                        label=label_of[cls],
                        patient=f"{dataset}:{cls}/{stem}",
                        official_split="",
                        size=file.size,
                        mtime_ns=file.mtime_ns,
                        layout="generic",
                    )
                )
                taken.add(file.parts)
        scan.label_names[dataset] = tuple(sorted(label_of, key=label_of.get))
    if taken:
        scan.layouts.append("generic")
    return [f for f in files if f.parts not in taken]


def _generic_ambiguity(files, roots):
    """Why the generic layout would be a guess here ("" when it is not): the image files that lie
    elsewhere than directly inside a class folder of one of ``roots``."""
    depth = len(roots[0]) + 2  # every root has the same depth: the data folder itself, or its children
    fits = [len(f.parts) == depth and f.parts[: depth - 2] in roots for f in files]
    outside = [f for f, ok in zip(files, fits) if not ok]
    if not outside:
        return ""
    classes = sorted({"/".join(f.parts[:-1]) for f, ok in zip(files, fits) if ok})
    where = "the data folder" if depth == 2 else "each of " + ", ".join("/".join(r) for r in roots)
    loose = sum(1 for f in outside if len(f.parts) < depth)
    return (
        f"The generic layout <root>/<class>/*.png is not taken: it would make the folders directly in {where} "
        f"classes ({', '.join(classes[:6])}{', ...' if len(classes) > 6 else ''}), but {len(outside)} image files "
        f"lie elsewhere ({loose} above the class folders, {len(outside) - loose} in other or deeper folders; e.g. "
        + ", ".join(f.path for f in outside[:3])
        + "). Point --data-dir at the folder whose sub-folders are the classes and hold the images directly."
    )


def _generic_labels(classes):
    """Class folder name -> label: sorted order, except that a lone 'normal'-like folder of two is 0."""
    ordered = sorted(classes)
    negatives = [c for c in ordered if c.lower() in NEGATIVE_CLASS_NAMES]
    if len(ordered) == 2 and len(negatives) == 1:
        positive = ordered[1 - ordered.index(negatives[0])]
        return {negatives[0]: 0, positive: 1}
    return {cls: i for i, cls in enumerate(ordered)}
