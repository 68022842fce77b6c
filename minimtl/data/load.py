"""``load_collection``: from a data folder to a decoded, cached ``Collection``.

The steps: find the folder (``resolve_data_dir``), find and classify the image files
(``layouts.scan_data_dir``), then either load their pixels from the cache or decode them
(``decode.decode_file``, in worker threads when there are many) and store them in the cache.
``load_or_phantoms`` is what the commands call. Synthetic phantoms stand in for images only when the
user named no data at all (no ``--data-dir``, no ``$MINIMTL_DATA``) and ``data/`` in the repository
holds no image: then it says so in one line on stderr. A folder the user named that holds no image
is an error naming the folder and what it should hold.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from minimtl.common.progress import echo_stderr, no_progress
from minimtl.data.cache import DecodedImages, cache_key, default_cache_dir, read_cache, write_cache
from minimtl.data.collection import Collection
from minimtl.data.decode import CROPS, decode_file
from minimtl.data.errors import DataError, NoDataFound
from minimtl.data.layouts import scan_data_dir
from minimtl.data.phantoms import make_phantoms

__all__ = [
    "load_collection",
    "load_or_phantoms",
    "count_image_files",
    "resolve_data_dir",
    "data_source",
    "find_images",
    "phantoms_notice",
    "decode_records",
    "DATA_ENV",
    "DEFAULT_DATA_DIR",
    "HOW_TO_GET_DATA",
]

DATA_ENV = "MINIMTL_DATA"
HOW_TO_GET_DATA = (
    "To use the real data, download the Kaggle set 'paultimothymooney/chest-xray-pneumonia' and the "
    "NLM Shenzhen set 'ChinaSet_AllFiles', unzip both under data/ in the repository "
    f"(or point --data-dir or ${DATA_ENV} at the folder holding them)."
)
EXPECTED_LAYOUTS = (
    "chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg (Kermany, as on Kaggle), CHNCXR_0001_0.png-style "
    "files (the NLM sets), or <class>/*.png folders of your own"
)
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # data/ in the repository root
MIN_IMAGE_SIZE = 8
_PARALLEL_MIN_FILES = 64  # below this, starting worker threads is not worth it


def resolve_data_dir(option=None):
    """The data folder: ``option``, else ``$MINIMTL_DATA``, else ``data/`` in the repository root.

    Inputs:
    - option: str, Path or None (the ``--data-dir`` value).

    Returns:
    - Path (not checked for existence; ``load_collection`` does that).
    """
    return data_source(option)[0]


def data_source(option=None):
    """The data folder and who named it.

    Inputs:
    - option: str, Path or None (the ``--data-dir`` value).

    Returns:
    - (Path, origin): origin is ``"--data-dir"``, ``"$MINIMTL_DATA"``, or None for ``data/`` in the
      repository root, which nobody named (the only folder whose lack of images means phantoms).
    """
    if option:
        return Path(option).expanduser(), "--data-dir"
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"
    return DEFAULT_DATA_DIR, None


def find_images(data_dir=None, layout="auto"):
    """Scan the data folder for images (names and sizes only, nothing decoded), as ``load_collection`` will.

    Inputs:
    - data_dir: str, Path or None (None: ``data_source(None)``: $MINIMTL_DATA, else data/).
    - layout: as for ``layouts.scan_data_dir``.

    Returns:
    - (Scan, folder): the scan, and the folder it looked in.

    Raises:
    - NoDataFound: nobody named the folder (no ``data_dir``, no $MINIMTL_DATA) and it is missing or holds no
      image file: the case for phantoms.
    - DataError: a folder the user named is missing or holds no image file (the message names it and says
      what it should hold), or the images cannot be used as they are (see ``scan_data_dir``).
    """
    folder, origin = data_source(data_dir)
    try:
        if not folder.is_dir():
            raise NoDataFound(_no_data_message(folder, "the folder does not exist"))
        try:
            return scan_data_dir(folder, layout), folder
        except NoDataFound:
            raise NoDataFound(_no_data_message(folder, "no .png/.jpg/.jpeg file in it")) from None
    except NoDataFound as error:
        if origin is None:
            raise
        what = "does not exist" if not folder.is_dir() else "holds no .png/.jpg/.jpeg file (in any folder below it)"
        raise DataError(
            f"{folder}, the data folder named by {origin}, {what}. A data folder must hold {EXPECTED_LAYOUTS}. "
            "Point it at the folder holding the images; for the built-in synthetic phantoms, pass --phantoms "
            f"instead of a folder. {HOW_TO_GET_DATA}"
        ) from error


def load_collection(
    data_dir=None,
    image_size=256,
    crop="stretch",
    strict=False,
    cache=True,
    progress=no_progress,
    cache_dir=None,
    layout="auto",
    workers=None,
    echo=echo_stderr,
):
    """Find, decode (or load from the cache) and describe every image below ``data_dir``.

    Inputs:
    - data_dir: str, Path or None (None: ``resolve_data_dir(None)``).
    - image_size: int S >= 8, the side of the square images.
    - crop: ``"stretch"`` (the study: whole image squashed to a square) or ``"center"``.
    - strict: bool; False skips bad files and lists them in ``Collection.skipped``, True raises.
    - cache: bool, use and fill the decode cache.
    - progress: a progress factory (:mod:`minimtl.common.progress`) for the decoding bar.
    - cache_dir: str, Path or None (None: ``cache.default_cache_dir()``).
    - layout: ``"auto"``, ``"kermany"``, ``"nlm"`` or ``"generic"`` (see ``layouts``).
    - workers: int or None, decoding threads (None: the CPUs this process may use, at most 8).
    - echo: callable(str) for notices about the cache (default: a line on stderr).

    Returns:
    - Collection, rows sorted by dataset then path, ``synthetic=False``.

    Raises:
    - NoDataFound: the folder does not exist or holds no image file.
    - DataError: unknown layout, no usable image, or (``strict``) any bad file or folder.
    - ValueError: a bad option value.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}; got {crop!r}")
    if int(image_size) != image_size or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be an integer >= {MIN_IMAGE_SIZE}; got {image_size!r}")
    image_size = int(image_size)
    data_dir = resolve_data_dir(data_dir)
    if not data_dir.is_dir():
        raise NoDataFound(_no_data_message(data_dir, "the folder does not exist"))
    try:
        scan = scan_data_dir(data_dir, layout)
    except NoDataFound:
        raise NoDataFound(_no_data_message(data_dir, "no .png/.jpg/.jpeg file in it")) from None
    decoded = _decoded_images(data_dir, scan.records, image_size, crop, cache, cache_dir, progress, workers, echo)
    if strict and (scan.skipped or decoded.failures):  # every problem in one pass: the folder's and the files'
        problems = list(scan.skipped) + list(decoded.failures)
        raise DataError(_bad_files_message(problems, data_dir, shown=len(problems), separator="\n  "))
    ok = set(decoded.paths)
    records = [r for r in scan.records if r.path in ok]
    if [r.path for r in records] != list(decoded.paths):
        raise DataError("internal error: decoded images are not in the order of the file list")
    if not records:
        raise DataError(_bad_files_message(decoded.failures, data_dir, prefix="no image could be decoded"))
    return records_to_collection(
        records,
        decoded,
        data_dir,
        image_size,
        crop,
        skipped=sorted(scan.skipped + list(decoded.failures)),
        label_names=dict(scan.label_names),
        ignored=scan.ignored,
    )


def records_to_collection(records, decoded, data_dir, image_size, crop, skipped, label_names, ignored=()):
    """A Collection of the decoded images and their records (one record per decoded image, in the same
    order): the fields of every image as arrays, and what the folder held besides."""
    return Collection(
        images=decoded.images,
        labels=np.array([r.label for r in records], dtype=np.int64),
        dataset=np.array([r.dataset for r in records]),
        site=np.array([r.site for r in records]),
        patient=np.array([r.patient for r in records]),
        official_split=np.array([r.official_split for r in records]),
        paths=np.array([r.path for r in records]),
        pixel_hash=np.array(decoded.pixel_hash),
        synthetic=False,
        image_size=image_size,
        data_dir=str(data_dir),
        skipped=skipped,
        ignored=list(ignored),
        label_names=label_names,
        crop=crop,
    )


def count_image_files(data_dir=None, layout="auto"):
    """How many image files ``load_collection`` would decode below ``data_dir`` (0 when the folder
    holds none): a scan of names and sizes, no decoding, for estimating memory first."""
    data_dir = resolve_data_dir(data_dir)
    if not data_dir.is_dir():
        return 0
    try:
        return len(scan_data_dir(data_dir, layout).records)
    except (NoDataFound, DataError):
        return 0


def load_or_phantoms(data_dir=None, image_size=256, phantoms_per_class=100, seed=0, echo=echo_stderr, **options):
    """``load_collection``, or synthetic phantoms (with a one-line notice) when the user named no data
    folder and ``data/`` holds no image.

    Inputs:
    - data_dir, image_size, **options: as for ``load_collection`` (crop, strict, cache, ...); a
      ``data_dir`` given here (or by $MINIMTL_DATA) is one the user named.
    - phantoms_per_class: int, phantoms per (dataset, label) if no data is found.
    - seed: int, the phantoms' seed.
    - echo: callable(str) for the notice (default: a line on stderr).

    Returns:
    - Collection (``synthetic=True`` when it holds phantoms).

    Raises:
    - DataError: a folder the user named holds no image (see ``find_images``), or any error of ``load_collection``.
    """
    try:
        find_images(data_dir, options.get("layout", "auto"))
    except NoDataFound as error:
        echo(phantoms_notice(error))
        return make_phantoms(n_per_class=phantoms_per_class, image_size=image_size, seed=seed)
    return load_collection(data_dir, image_size=image_size, echo=echo, **options)


def phantoms_notice(error):
    """The one line that says the phantoms stand in for images (``error``: the NoDataFound that says why)."""
    return f"{error} Using synthetic phantoms instead; every result will be marked SYNTHETIC."


def decode_records(data_dir, records, image_size, crop="stretch", progress=no_progress, workers=None):
    """Decode the files of ``records`` in order, in worker threads when there are many.

    Inputs:
    - data_dir: Path of the data folder; records: list of ImageRecord.
    - image_size: int S; crop: str; progress: a progress factory (:mod:`minimtl.common.progress`).
    - workers: int or None (None: usable CPUs, at most 8).

    Returns:
    - DecodedImages with the images in the order of ``records`` (failures left out and listed).
    """
    jobs = [(str(Path(data_dir) / r.path), image_size, crop) for r in records]
    images = np.empty((len(jobs), image_size, image_size), dtype=np.uint8)
    ok = np.zeros(len(jobs), dtype=bool)
    hashes, failures = [], []
    if workers is None:
        workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    with (progress or no_progress)(f"Decoding {len(jobs)} images", len(jobs)) as bar:
        if workers > 1 and len(jobs) >= _PARALLEL_MIN_FILES:
            # Threads, not processes: Pillow (decode, resize) and hashlib release the GIL, so two
            # threads decode nearly twice as fast, without pickling pixels between processes or
            # the start-method pitfalls of multiprocessing. ``map`` yields results in job order.
            executor = ThreadPoolExecutor(workers)
            try:
                _collect(executor.map(decode_file, jobs), records, images, ok, hashes, failures, bar)
            finally:
                executor.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: drop the queued files
        else:
            _collect(map(decode_file, jobs), records, images, ok, hashes, failures, bar)
    if not ok.all():
        images = images[ok]
    return DecodedImages(images, [r.path for r, good in zip(records, ok) if good], hashes, failures)


def _collect(results, records, images, ok, hashes, failures, bar):
    for i, (pixels, pixel_hash, reason) in enumerate(results):
        if reason is None:
            images[i] = pixels
            ok[i] = True
            hashes.append(pixel_hash)
        else:
            failures.append((records[i].path, reason))
        bar.update(1)


def _decoded_images(data_dir, records, image_size, crop, cache, cache_dir, progress, workers, echo):
    """Pixels for ``records`` from the cache, or decoded and then cached."""
    key = None
    if cache:
        cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        if _is_inside(cache_dir, data_dir):
            echo(f"Not caching: the cache folder {cache_dir} is inside the data folder {data_dir}.")
            cache = False
    if cache:
        key = cache_key(data_dir, records, image_size, crop)
        decoded, problem = read_cache(cache_dir, key, [r.path for r in records], image_size)
        if decoded is not None:
            return decoded
        if problem:
            echo(f"The image cache in {cache_dir} is unusable ({problem}); decoding again.")
    decoded = decode_records(data_dir, records, image_size, crop, progress, workers)
    if cache:
        try:
            write_cache(cache_dir, key, decoded)
        except OSError as error:
            echo(f"Could not write the image cache in {cache_dir} ({error}); carrying on without it.")
    return decoded


def _is_inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _no_data_message(data_dir, detail):
    return (
        f"No chest X-ray images found in {data_dir} ({detail}; the folder comes from --data-dir, "
        f"else ${DATA_ENV}, else data/ in the repository). {HOW_TO_GET_DATA}"
    )


def _bad_files_message(problems, data_dir, prefix=None, shown=10, separator="; "):
    lines = [f"{path}: {reason}" for path, reason in sorted(problems)]
    more = f"{separator}... and {len(lines) - shown} more" if len(lines) > shown else ""
    head = prefix or f"{len(lines)} bad file(s) or folder(s) in {data_dir} (--strict turns these into errors)"
    return f"{head}:{' ' if separator == '; ' else separator}" + separator.join(lines[:shown]) + more
