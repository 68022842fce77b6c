"""A comparison as one library call: which variants, every run trained or reused, summarised, written.

``python cli.py compare`` parses its options, then calls :func:`run_comparison`, which writes
``OUT/table.md``, ``OUT/summary.json``, ``OUT/metrics.png`` and ``OUT/roc.png``; the runs themselves
are :mod:`minimtl.study.compare.runs`', the rows :mod:`minimtl.study.compare.summarise`', the runs one by
one :mod:`minimtl.study.compare.run_list`'s and the files :mod:`minimtl.study.compare.report`'s.
"""

from dataclasses import dataclass
from pathlib import Path

from minimtl.common.atomic import write_json, write_text
from minimtl.common.messages import plural
from minimtl.common.progress import no_progress
from minimtl.study.compare.conflict_report import conflict_summary, plot_conflict_over_seeds, render_conflict
from minimtl.study.compare.report import plot_metric_dots, plot_roc_curves, render_table, write_summary
from minimtl.study.compare.run_list import run_rows
from minimtl.study.compare.runs import estimate_seconds, run_all
from minimtl.study.compare.saliency_report import render_saliency, saliency_summary
from minimtl.study.compare.summarise import summarise
from minimtl.study.compare.variants import ALL_VARIANTS, PROTOCOLS, rows_of, run_config, with_partners
from minimtl.study.compare.verdicts import verdicts

__all__ = [
    "SETTING_FIELDS",
    "Comparison",
    "choose_variants",
    "model_choice",
    "default_out",
    "comparison_configs",
    "run_comparison",
]

# the RunConfig fields a comparison's settings record (in summary.json and table.md), in this order
SETTING_FIELDS = (
    "image_size",
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "step",
    "normalize",
    "crop_borders",
    "augment",
    "selection",
)


@dataclass(frozen=True, eq=False)
class Comparison:
    """What :func:`run_comparison` compared and found.

    - settings: the comparison's settings as summary.json records them
    - per_run: (variant name, seed) -> that run's results (:func:`minimtl.study.compare.runs.run_all`)
    - summary, without_collapsed, reshuffled: the table rows (:func:`minimtl.study.compare.summarise.summarise`)
      over every run, without the runs with a collapsed head, and on the reshuffled 20% (None unless asked)
    - train_overlap: the mean share of the reshuffled 20% each model had trained on (None unless asked)
    - files: the files written into the output folder
    """

    settings: dict
    per_run: dict
    summary: dict
    without_collapsed: dict
    reshuffled: dict | None
    train_overlap: float | None
    files: tuple


def choose_variants(names):
    """The variants named in ``names`` (a list), each variant beyond the study joined by its baseline and
    each control by its partners (the comparison pairs them), in order, once each. ValueError naming the
    unknown names."""
    unknown = [name for name in names if name not in ALL_VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {', '.join(ALL_VARIANTS)}")
    return [ALL_VARIANTS[name] for name in with_partners(names)]


def model_choice(protocol, selection):
    """The model each run of a comparison stands for, in words (table.md, roc.png)."""
    if PROTOCOLS[protocol]["val_fraction"] == 0:
        return "last epoch"
    return "each task's best validation epoch" if selection == "per-task" else "best validation epoch (summed loss)"


def _external_settings(per_run):
    """{set: {"sites": [...], "data_dir"}} of the external sets the runs were scored on (empty: none)."""
    out = {}
    for entry in per_run.values():
        for name, result in (entry.get("external") or {}).items():
            out.setdefault(name, {"sites": list(result["tasks"]["tb"]["sites"])})
    return out


def default_out(protocol, image_size, epochs):
    """The output folder a comparison gets when none is given: compare/PROTOCOL-SIZEpx-EPOCHSep."""
    return Path("compare") / f"{protocol}-{image_size}px-{epochs}ep"


def comparison_configs(base, variants, protocol):
    """The RunConfig of each variant's first seed (for the memory estimate and the images to decode)."""
    return [run_config(base, variant, protocol, 0) for variant in variants]


def run_comparison(
    base, variants, protocol, seeds, out, images_for, reshuffled=False, jobs=1, log=print, progress=no_progress,
    externals_for=None, saliency=False,
):  # fmt: skip
    """Train or reuse every (variant, seed) run in ``out``, summarise them and write the comparison.

    Inputs:
    - base: a RunConfig with the user's options (the architecture, seed and split come from each
      variant and the protocol); variants: from :func:`choose_variants`; protocol: "study" or
      "honest"; seeds: a list of ints; out: the output folder
    - images_for(decode_crop): the Collection of the runs that decode their images with that crop
      (asked once per crop)
    - reshuffled: also score every final model on a freshly reshuffled 20% (the study's notebook)
    - jobs: runs trained at once; log: one line of text at a time; progress: a progress factory
    - externals_for(decode_crop): the external TB sets (Collections, :func:`minimtl.data.external.load_external`
      at the comparison's image size) every finished run is scored on, per site; asked once per crop;
      None for none. They score finished runs only: nothing is chosen by them
    - saliency: also write ``OUT/saliency.md`` and ``OUT/saliency.json``, the share of each TB model's
      saliency outside the lung box over seeds (:mod:`minimtl.study.compare.saliency_report`)
    Where multi-task runs measured their gradient conflict it also writes ``OUT/conflict.md``,
    ``conflict.json`` and ``conflict.png`` (:mod:`minimtl.study.compare.conflict_report`).
    Returns a :class:`Comparison`. Raises what the runs raise (TrainingInterrupted on Ctrl-C,
    ValueError for a finished run made with other options, the data and run errors).
    """
    out = Path(out)
    configs = comparison_configs(base, variants, protocol)
    collections = {crop: images_for(crop) for crop in dict.fromkeys(config.decode_crop for config in configs)}
    collection = next(iter(collections.values()))  # for the time estimate and the SYNTHETIC mark
    estimate = estimate_seconds(base, collection, protocol, seeds, variants)
    log(
        f"{len(variants) * len(seeds)} runs ({', '.join(v.name for v in variants)} x seeds {seeds}), {protocol} "
        f"protocol, {base.image_size} px, at most {plural(base.epochs, 'epoch')}: at most about "
        f"{estimate / 60 / jobs:.0f} min on this machine (finished runs in {out} are reused)"
    )
    externals = {}  # decode_crop -> the external sets decoded that way

    def externals_of(config):
        if config.decode_crop not in externals:
            externals[config.decode_crop] = externals_for(config.decode_crop)
        return externals[config.decode_crop]

    per_run = run_all(
        base, lambda config: collections[config.decode_crop], out, protocol, seeds,
        reshuffled=reshuffled, variants=variants, log=log, progress=progress, jobs=jobs,
        externals_for=externals_of if externals_for is not None else None, saliency=saliency,
    )  # fmt: skip
    settings = {
        "protocol": protocol,
        **{field: getattr(base, field) for field in SETTING_FIELDS},
        "seeds": list(seeds),
        "variants": [v.name for v in variants],
        "synthetic": bool(collection.synthetic),
        "model_choice": model_choice(protocol, base.selection),
        "run_seconds": {f"{name}-seed{seed}": entry["seconds"] for (name, seed), entry in per_run.items()},
        "run_epochs": {f"{name}-seed{seed}": entry["epochs"] for (name, seed), entry in per_run.items()},
        "external": _external_settings(per_run),
        **PROTOCOLS[protocol],
    }
    summary = summarise(per_run, seeds, variants=variants)
    without_collapsed = summarise(per_run, seeds, exclude_collapsed=True, variants=variants)
    reshuffled_summary, overlap = None, None
    if reshuffled:
        reshuffled_summary = summarise(per_run, seeds, key="reshuffled", variants=variants)
        overlaps = [entry["train_overlap"] for entry in per_run.values()]
        overlap = sum(overlaps) / len(overlaps)
    verdict_document = verdicts(summary, seeds)
    runs = run_rows(per_run, seeds, settings["variants"])
    write_summary(
        out / "summary.json", summary, settings, reshuffled_summary, without_collapsed, verdict_document, runs
    )
    write_text(
        out / "table.md",
        render_table(summary, settings, reshuffled_summary, overlap, without_collapsed, verdict_document, runs),
    )
    plot_metric_dots(summary, out / "metrics.png", collection.synthetic)
    rows, _ = rows_of(variants)
    plot_roc_curves(per_run, seeds, rows, out / "roc.png", settings["model_choice"], collection.synthetic)
    files = ("table.md", "summary.json", "metrics.png", "roc.png")
    if saliency:
        shares = saliency_summary(per_run, seeds, variants)
        write_json(out / "saliency.json", {"settings": settings, "rows": shares})
        write_text(out / "saliency.md", render_saliency(shares, settings, base.image_size))
        files += ("saliency.md", "saliency.json")
    conflict = conflict_summary(per_run, seeds, variants)
    if conflict["rows"]:  # multi-task runs that measured their gradient conflict
        write_json(out / "conflict.json", {"settings": settings, **conflict})
        write_text(out / "conflict.md", render_conflict(conflict, settings))
        plot_conflict_over_seeds(conflict, out / "conflict.png", collection.synthetic)
        files += ("conflict.md", "conflict.json", "conflict.png")
    return Comparison(settings, per_run, summary, without_collapsed, reshuffled_summary, overlap, files)
