"""``compare --saliency``: where each row's TB head looks, over seeds (``OUT/saliency.md``).

For every finished run with a TB head, :func:`minimtl.study.compare.runs.saliency_of` keeps the share
of the head's saliency that falls outside the fixed lung box (rows 15-85%, columns 20-80% of the
image: 41-42% of its area, so a map spread evenly puts 58-59% outside), per saliency method (gradient,
SmoothGrad, Grad-CAM) and per class sample of test images: Shenzhen TB, Shenzhen normal, and the
other hospital's (Kermany's) normal images. This module averages those shares over seeds.

A head that collapsed (by the verdict its run recorded before the test) gives every image one score;
its maps say nothing about the images, so it is left out of the mean and counted beside it.
The box is a stand-in for the lung fields, not a segmentation: the shares are a coarse measure.
"""

from minimtl.study.compare.cells import interval
from minimtl.study.compare.statistics import mean_interval
from minimtl.study.compare.variants import rows_of
from minimtl.study.explain.maps import CLASS_SAMPLES, METHODS, box_mask

__all__ = ["SALIENCY_TASK", "saliency_summary", "render_saliency"]

SALIENCY_TASK = "tb"
CLASS_COLUMNS = {"disease": "TB", "normal": "normal", "other_normal": "normal, other hospital"}


def saliency_summary(per_run, seeds, variants):
    """Per table row with a TB model: {"variant", "runs", "collapsed", "outside_box": {method: {class
    sample: mean_interval over the seeds whose head trained}}}; rows without saliency are left out."""
    rows, _ = rows_of(variants)
    summary = {}
    for row, tasks in rows.items():
        name = tasks.get(SALIENCY_TASK)
        entries = [per_run.get((name, seed)) for seed in seeds]
        entries = [entry for entry in entries if entry is not None and entry.get("saliency") is not None]
        if name is None or not entries:
            continue
        trained = [e for e in entries if not (e.get("collapsed") or {}).get(SALIENCY_TASK)]
        summary[row] = {
            "variant": name,
            "runs": len(entries),
            "collapsed": len(entries) - len(trained),
            "outside_box": {
                method: {
                    group: mean_interval(
                        [e["saliency"]["outside_box"].get(method, {}).get(group) for e in trained], bounds=(0.0, 1.0)
                    )
                    for group in CLASS_SAMPLES
                }
                for method in METHODS
            },
        }
    return summary


def render_saliency(summary, settings, image_size):
    """saliency.md: the shares in percent, mean over the seeds whose TB head trained [95% t interval]."""
    even = 100 * (1 - float(box_mask(image_size).mean()))
    out = [
        "# Where the TB head looks: saliency outside the lung box",
        "",
        f"Protocol {settings['protocol']}, {image_size} px, seeds {', '.join(map(str, settings['seeds']))}, "
        f"model: {settings['model_choice']}. Share of each map's mass outside the fixed lung box (rows 15-85%, "
        f"columns 20-80%; a map spread evenly puts {even:.0f}% outside), averaged over up to 64 test images per "
        "class sample, then over the seeds whose TB head trained: mean [95% t interval] in percent. Above "
        f"{even:.0f}%: the head looks at the edges more than an even spread would. Collapsed heads are left out "
        "(their maps say nothing) and counted. Written by `compare --saliency`; one run's maps: "
        "`python cli.py explain RUN_DIR --task tb`.",
        "",
        "| model | method | " + " | ".join(CLASS_COLUMNS[g] for g in CLASS_SAMPLES) + " | runs (collapsed) |",
        "| --- | --- |" + " --- |" * len(CLASS_SAMPLES) + " --- |",
    ]
    for row, entry in summary.items():
        for method in METHODS:
            cells = [interval(entry["outside_box"][method][g], scale=100, digits=0) for g in CLASS_SAMPLES]
            out.append(f"| {row} | {method} | " + " | ".join(cells) + f" | {entry['runs']} ({entry['collapsed']}) |")
    return "\n".join(out) + "\n"
