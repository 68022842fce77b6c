"""A finished run scored on an external TB set: per site, pooled, and a site probe between adults.

External sites (:mod:`minimtl.data.external`) only score finished models: nothing here feeds back
into training, validation or any choice. The TB head is scored with the model the run stands for
on TB, on every image of the set:

- ``sites``: each site's metrics (the usual rates with Wilson intervals, ROC-AUC with Hanley-McNeil),
  and ``pooled`` over every site, reported beside them only: where file format and TB share go with
  the site (the Indian DA and DB sets), a pooled ROC-AUC partly measures the machine;
- ``predictions``: every image's P(TB) and prediction, so that two runs of one seed can be paired on
  the same images (DeLong);
- ``adult_site`` (when the run's own images are given): how well P(TB) tells Shenzhen's healthy test
  images from each external site's healthy images, the adult counterpart of the Kermany probe of
  :mod:`minimtl.study.site_separation` (Kermany's healthy images are children). 0.5: the score does
  not know the hospital.

The result is kept in the run folder, one entry per set (``external/<set>-<path hash>.json`` and
``-predictions.csv`` beside it, :func:`entry_name`: a set is its resolved folder, so two sets whose
folders share a name keep an entry each), with what it was computed from (the set's folder and
fingerprint, the image size and crop, the model files), and reused while those are unchanged, so
``compare --external`` reruns cheaply.
"""

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np

from minimtl.common.atomic import write_json, write_text
from minimtl.study.run.saved_run import RunError, data_fingerprint, disease_probability, full_test_images
from minimtl.training.metrics import binary_metrics, roc_auc, roc_auc_interval
from minimtl.training.tasks import task_predictions

__all__ = [
    "EXTERNAL_TASK",
    "check_tb_head",
    "external_scores",
    "site_metrics",
    "adult_site_probe",
    "set_name",
    "entry_name",
    "write_external",
    "read_external",
    "score_on_external",
]

EXTERNAL_TASK = "tb"  # an external set is a TB set: only a TB head is scored on it


def external_scores(run, external, task=EXTERNAL_TASK):
    """P(``task``) and the 0/1 decision of the run's model for ``task`` on every image of ``external``,
    scored the way the run scores (its step's forward, its normalisation): (score float64 (n,),
    predicted int64 (n,))."""
    index = np.arange(len(external))
    logits = run.logits(task, external.images, index)
    _, score, predicted = task_predictions(run.spec, logits, np.full(len(index), task))[task]
    return score, predicted


def site_metrics(external, score, predicted):
    """({site: binary_metrics}, pooled binary_metrics) of one head's scores over ``external``'s images."""
    labels = external.labels
    sites = {}
    for site in sorted(set(external.site.tolist())):
        keep = external.site == site
        sites[site] = binary_metrics(labels[keep], predicted[keep], score[keep])
    return sites, binary_metrics(labels, predicted, score)


def adult_site_probe(own_normal_scores, external, score):
    """How well P(TB) separates the run's own healthy adults (Shenzhen's normal test images) from each
    external site's healthy images, and from all of them pooled.

    Inputs: own_normal_scores: float (m,), P(TB) of the own healthy test images; external: the set's
    Collection; score: float (n,), P(TB) of each of its images.

    Returns {"sites": {site: probe}, "pooled": probe}, each probe {"auc" (own healthy images as
    positives, ties one half), "separation" (max(AUC, 1 - AUC)), "ci95" (Hanley-McNeil), "images"
    {"own", "external"}, "mean_probability" {"own", "external"}}; the numbers are None when a group
    is empty.
    """
    own = np.asarray(own_normal_scores, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    normal = external.labels == 0

    def probe(keep):
        other = score[keep]
        entry = {"images": {"own": int(len(own)), "external": int(len(other))}}
        if len(own) == 0 or len(other) == 0:
            return {**entry, "auc": None, "separation": None, "ci95": None, "mean_probability": None}
        auc = roc_auc(np.r_[np.ones(len(own)), np.zeros(len(other))], np.r_[own, other])
        return {
            **entry,
            "auc": auc,
            "separation": max(auc, 1 - auc),
            "ci95": roc_auc_interval(auc, len(own), len(other)),
            "mean_probability": {"own": float(own.mean()), "external": float(other.mean())},
        }

    sites = {site: probe(normal & (external.site == site)) for site in sorted(set(external.site.tolist()))}
    return {"sites": sites, "pooled": probe(normal)}


def set_name(data_dir):
    """An external set's name, from its folder (a path): the folder's name made safe for a file name
    (``india``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(data_dir).rstrip("/").rsplit("/", 1)[-1]).strip("-.")
    return name or "external"


def entry_name(data_dir):
    """The name of an external set's kept entry in a run folder: the set's name and the first 12 hex
    digits of the sha256 of its resolved folder (``india-0123456789ab``): one entry per set, and sets
    whose folders share a name (``a/india``, ``b/india``) do not overwrite each other's."""
    resolved = str(Path(data_dir).resolve())
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{set_name(data_dir)}-{digest[:12]}"


def write_external(folder, name, document, predictions):
    """Write ``<folder>/<name>.json`` (``document``) and ``<folder>/<name>-predictions.csv``: per image
    task, site, path, label, P(disease), prediction. predictions: {task: {"site", "path", "label",
    "score", "predicted"} arrays}. Each file is written atomically; the pair is kept consistent by
    removing the old document first and writing the new one last, so a document on disk always sits
    beside its own predictions (a write stopped in between leaves no document: computed again)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "site", "path", "label", "score", "predicted"])
    for task, columns in predictions.items():
        for site, path, label, score, predicted in zip(
            columns["site"], columns["path"], columns["label"], columns["score"], columns["predicted"]
        ):
            writer.writerow([task, site, path, int(label), repr(float(score)), int(predicted)])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").unlink(missing_ok=True)  # an old document must not outlive its predictions
    write_text(folder / f"{name}-predictions.csv", buffer.getvalue())
    write_json(folder / f"{name}.json", document)  # last: its presence marks the pair complete


def read_external(folder, name):
    """(document, predictions) written by :func:`write_external`, or (None, None) when either file is
    missing or unreadable (it is then computed again). predictions: {task: {"site", "path", "label",
    "score", "predicted"} arrays}, in the file's order."""
    try:
        document = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        with open(folder / f"{name}-predictions.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError):
        return None, None
    predictions = {}
    for row in rows:
        columns = predictions.setdefault(row["task"], {k: [] for k in ("site", "path", "label", "score", "predicted")})
        columns["site"].append(row["site"])
        columns["path"].append(row["path"])
        columns["label"].append(int(row["label"]))
        columns["score"].append(float(row["score"]))
        columns["predicted"].append(int(row["predicted"]))
    arrays = {task: {k: np.array(v) for k, v in columns.items()} for task, columns in predictions.items()}
    return document, arrays


def check_tb_head(run):
    """RunError unless ``run`` (a SavedRun) has a TB head: an external TB set scores TB heads only."""
    if EXTERNAL_TASK not in run.spec.tasks:
        raise RunError(
            f"{run.folder} ({run.spec.name}) has no TB head: an external TB set scores TB heads only (its tasks: "
            f"{', '.join(run.spec.tasks)})"
        )


def _model_files(run, task):
    """What the cached result was computed with, model-wise: the task's weights file, its size and time."""
    path = run.weights_file_for(task)
    stat = path.stat()
    return {"weights": run.weights_for(task), "file": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def score_on_external(run, external, own=None, log=None):
    """Score the TB head of a saved run on an external TB set, or reuse the result kept in the run folder.

    Inputs:
    - run: a :class:`minimtl.study.run.saved_run.SavedRun` (its TB task's model is scored: the one it
      stands for on TB, unless the run was opened with ``weights``)
    - external: the set's Collection (:func:`minimtl.data.external.load_external`), decoded at the run's
      image size and crop
    - own: the run's own images (same fingerprint), for the adult site probe; None leaves it out
    - log: one line of text (None: quiet), said when a kept result is reused or written

    Returns (document, predictions). document: {"set", "data_dir", "run", "weights", "epoch", "key",
    "images": {site: {"normal", "tb"}}, "tasks": {"tb": {"sites": {site: metrics}, "pooled": metrics}},
    "collapsed" (the verdict recorded before the test, or None), "adult_site" (when ``own`` is given:
    :func:`adult_site_probe` and "own_images", the own healthy test images' sites), "synthetic_run"};
    predictions: {"tb": {"site", "path", "label", "score", "predicted"} arrays}. Kept as
    ``external/<entry>.json`` and ``external/<entry>-predictions.csv`` in the run folder
    (:func:`entry_name`). Raises RunError for a run without a TB head or without the model file.
    """
    task = EXTERNAL_TASK
    check_tb_head(run)
    name = set_name(external.data_dir)
    own_ok = own is not None and run.same_data(own)
    key = {
        "set_dir": str(Path(external.data_dir).resolve()),
        "set_fingerprint": data_fingerprint(external),
        "image_size": int(external.image_size),
        "crop": external.crop,
        "model": _model_files(run, task),
        "own_fingerprint": run.stored["data"]["fingerprint"] if own_ok else None,
    }
    folder, entry = run.folder.external, entry_name(external.data_dir)
    document, predictions = read_external(folder, entry)
    if document is not None and document.get("key") == key:
        if log:
            log(f"{run.folder}: the scores on {name} kept in {folder} are reused")
        return document, predictions
    score, predicted = external_scores(run, external, task)
    sites, pooled = site_metrics(external, score, predicted)
    document = {
        "set": name,
        "data_dir": external.data_dir,
        "run": str(run.folder),
        "weights": run.weights_for(task),
        "epoch": run.epoch_for(task) if run.finished else None,
        "key": key,
        "images": {
            site: {
                "normal": int(((external.site == site) & (external.labels == 0)).sum()),
                "tb": int(((external.site == site) & (external.labels == 1)).sum()),
            }
            for site in sites
        },  # fmt: skip
        "tasks": {task: {"sites": sites, "pooled": pooled}},
        "collapsed": run.collapsed_for(task) if run.finished else None,
        "synthetic_run": run.synthetic,
        "skipped": [list(item) for item in external.skipped],
    }
    if own_ok:
        index = full_test_images(run, own, task, label=0)
        own_scores = disease_probability(run, task, own.images, index)
        document["adult_site"] = {
            **adult_site_probe(own_scores, external, score),
            "own_images": sorted(set(own.site[index].tolist())),
        }
    predictions = {
        task: {"site": external.site, "path": external.paths, "label": external.labels, "score": score,
               "predicted": predicted}
    }  # fmt: skip
    write_external(folder, entry, document, predictions)
    if log:
        log(f"{run.folder}: scored on {name} ({len(external)} images); kept in {folder}")
    return document, predictions
