"""``explain``: what a saved run looks at, and whether it has learned the hospital instead of the disease.

:func:`explain_run` writes into ``RUN_DIR/explain/`` (or another folder):

- ``{task}-{method}-{outcome}.png``: test images with their saliency overlaid, for each outcome
  (tp, fp, fn, tn) that has images;
- ``{task}-mean.png``: the mean map per class sample, with the lung box;
- ``explain.json``: every number (site separation, saliency outside the box, shift test), which
  weights, which images;
- ``explain.md``: how to read them, and what they say for this run.

:func:`saliency_outside_box` gives the saliency numbers alone;
:func:`minimtl.study.explain.site_separation.site_separation` and
:func:`minimtl.study.explain.shift_test.shift_test` the other two (each a plain function of a run
folder and its collection, for ``compare``).
"""

from pathlib import Path

from minimtl.common.atomic import write_json, write_text
from minimtl.common.run_folder import SAVED_MODELS
from minimtl.study.explain.maps import (
    LUNG_BOX,
    METHODS,
    OUTCOMES,
    SMOOTHGRAD,
    box_mask,
    task_saliency,
)
from minimtl.study.explain.plots import plot_group, plot_mean_maps
from minimtl.study.explain.report import render_explain
from minimtl.study.explain.shift_test import shift_test_of
from minimtl.study.explain.site_separation import site_separation_of
from minimtl.study.run.saved_run import RunError, open_saved_run

__all__ = ["checked_tasks", "explain_run", "saliency_outside_box"]


def checked_tasks(run, tasks):
    """The tasks to explain: ``tasks`` (a list, each checked against the run), or every task of the run."""
    for task in tasks or ():
        if task not in run.spec.tasks:
            raise RunError(
                f"{run.folder} ({run.spec.name}) has no {task} head; its tasks are {', '.join(run.spec.tasks)}: "
                "choose one of them with --task, or leave --task out"
            )
    return list(tasks) if tasks else list(run.spec.tasks)


def opened_on(run_dir, collection, weights=None):
    """The saved run of ``run_dir`` (its ``weights`` model, or the one it stands for), checked before
    anything is computed: its model files exist, ``collection`` holds its images, split.json its test images.
    Raises RunError naming what is missing."""
    run = open_saved_run(run_dir, weights)
    run.weights_files()
    run.test_images(collection)
    return run


def _title(text, run, synthetic):
    return f"{text} - {run.spec.name}, {SAVED_MODELS[run.chosen_weights][1]}" + (
        " (SYNTHETIC phantoms)" if synthetic else ""
    )


def _settings(run, per_group, methods, seed):
    side = run.config.image_size
    return {
        "seed": seed,
        "images_per_outcome": per_group,
        "images_per_class_sample": 4 * per_group,
        "methods": list(methods),
        "smoothgrad": dict(SMOOTHGRAD),
        "lung_box": {
            **LUNG_BOX,
            "area_share": float(box_mask(side).mean()),
            "note": "a fixed central box standing in for the lung fields, not a segmentation",
        },
    }


def saliency_outside_box(run_dir, collection, weights=None, tasks=None, per_group=16, methods=METHODS, seed=0):
    """The share of saliency outside the lung box for each task and method of a saved run.

    Inputs: run_dir; collection (the run's images); weights ("best", "last", None: the model the run
    stands for); tasks (None: all); per_group: N (4N images per class sample); methods; seed.
    Returns a JSON-ready dict: ``run``, ``weights``, ``settings`` and ``tasks``: task -> ``head``,
    ``unit``, ``images`` and ``outside_box``: method -> class sample (and ``own``) -> mean share.
    """
    run = opened_on(run_dir, collection, weights)
    inside = box_mask(run.config.image_size)
    summaries = {
        task: task_saliency(run, collection, task, per_group, methods, seed).summary(collection, inside)
        for task in checked_tasks(run, tasks)
    }
    return {
        "run": str(run.folder),
        "weights": run.chosen_weights,
        "settings": _settings(run, per_group, methods, seed),
        "tasks": summaries,
    }


def _figures(run, collection, saliency, summary, out, synthetic):
    """Write one task's grids and mean maps; returns the file names written."""
    task, written = saliency.task, []
    for method in saliency.maps:
        for outcome, (_, _, words) in OUTCOMES.items():
            rows = saliency.rows(outcome)
            if len(rows) == 0:
                continue
            name = f"{task}-{method}-{outcome}.png"
            plot_group(
                collection.images[saliency.computed[rows]],
                saliency.maps[method][rows],
                saliency.probability[rows],
                f"P({task})",
                _title(f"{task}: {words}, {method}", run, synthetic),
                out / name,
            )
            written.append(name)
    name = f"{task}-mean.png"
    plot_mean_maps(
        saliency, collection, summary["outside_box"], _title(f"{task}: mean maps", run, synthetic), out / name
    )
    return written + [name]


def explain_run(
    run_dir,
    collection,
    out_dir=None,
    tasks=None,
    per_group=16,
    methods=METHODS,
    weights=None,
    seed=0,
    shift=False,
    log=print,
):
    """Write the figures, explain.json and explain.md of a saved run (module docstring).

    Inputs: run_dir; collection: the run's own images; out_dir: None for ``RUN_DIR/explain``;
    tasks: None (all) or a list; per_group: N images per outcome; methods: some of ``METHODS``;
    weights: "best", "last" or None (the model the run stands for); seed: every random choice;
    shift: also run the shift test; log: one line of text at a time.
    Returns the explain.json document. Raises RunError for an unusable run or a task it lacks.
    """
    run = opened_on(run_dir, collection, weights)
    tasks = checked_tasks(run, tasks)
    out = Path(out_dir) if out_dir is not None else run.folder.explain
    synthetic = bool(collection.synthetic)
    log(
        f"{run.spec.name} from {run.folder}, {SAVED_MODELS[run.chosen_weights][1]}"
        + (" (SYNTHETIC phantoms)" if synthetic else "")
    )
    document = {
        "run": str(run.folder),
        "arch": run.spec.name,
        "options": run.config.to_dict(),
        "weights": run.chosen_weights,
        "weights_file": ", ".join(dict.fromkeys(run.weights_file_for(task).name for task in tasks)),
        "synthetic": synthetic,
        "settings": _settings(run, per_group, methods, seed),
        "site_separation": site_separation_of(run, collection, tasks),
        "saliency": {},
        "shift_test": None,
        "figures": [],
    }
    inside = box_mask(run.config.image_size)
    for task in tasks:
        saliency = task_saliency(run, collection, task, per_group, methods, seed)
        log(f"{task}: {', '.join(methods)} maps of {len(saliency.computed)} test images")
        summary = saliency.summary(collection, inside)
        document["saliency"][task] = summary
        document["figures"] += _figures(run, collection, saliency, summary, out, synthetic)
    if shift:
        log(f"shift test: {len(tasks)} task(s)")
        document["shift_test"] = shift_test_of(run, collection, tasks)
    write_json(out / "explain.json", document)
    write_text(out / "explain.md", render_explain(document))
    return document
