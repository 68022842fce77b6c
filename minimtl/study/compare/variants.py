"""What a comparison runs: the study's models and the variants beyond it, its two protocols, the rows
of its tables, and the study's own Table 1 to set beside them.

With the same seed every architecture sees the same test images (the split has its own random
stream), so a model's per-seed difference from its baseline is a *paired* comparison.
"""

from dataclasses import dataclass, replace

__all__ = [
    "Variant",
    "VARIANTS",
    "GENERALIZATION_OPTIONS",
    "GENERALIZATION_VARIANTS",
    "CONTROL_VARIANTS",
    "METHOD_OPTIONS",
    "METHOD_VARIANTS",
    "DEEP_BASELINE",
    "ALL_VARIANTS",
    "PARTNERS",
    "with_partners",
    "ROWS",
    "BASELINE_ROW",
    "SECOND_PAIRS",
    "rows_of",
    "PROTOCOLS",
    "STUDY_TABLE",
    "METRICS",
    "run_config",
]


@dataclass(frozen=True)
class Variant:
    """One line of the comparison: an architecture and the options that make it.

    ``options`` are RunConfig fields set on top of the comparison's own (for the options beyond the
    study: normalize, crop_borders, augment); ``baseline`` names the variant it is paired with in
    the tables (None: the single-task model of each task, as for the study's own models).
    """

    name: str
    arch: str
    other_labels: str = "negative"
    options: tuple = ()  # ((RunConfig field, value), ...)
    baseline: str | None = None


VARIANTS = (
    Variant("single-pneumonia", "single-pneumonia"),
    Variant("single-tb", "single-tb"),
    Variant("multiclass", "multiclass"),
    Variant("multitask64", "multitask64"),
    Variant("multitask32", "multitask32"),
    Variant("multitask64-ignore", "multitask64", other_labels="ignore"),
)

# The options beyond the study, each as compare can run it on top of a study model: name -> fields.
GENERALIZATION_OPTIONS = {
    "image": (("normalize", "image"),),
    "equalize": (("normalize", "equalize"),),
    "borders": (("crop_borders", True),),
    "augment": (("augment", True),),
    "all": (("normalize", "image"), ("crop_borders", True), ("augment", True)),
}
# Controls beyond the study, run only when asked (compare --variants): single-tb-negatives is single-tb
# trained on multitask64's TB labels (Shenzhen, and every Kermany image a TB negative), so that
# multitask64's TB gain over single-tb can be split into what sharing adds and what the extra negatives add.
CONTROL_VARIANTS = (Variant("single-tb-negatives", "single-tb-negatives"),)
GENERALIZATION_VARIANTS = tuple(
    Variant(f"{base.name}+{option}", base.arch, base.other_labels, fields, baseline=base.name)
    for base in VARIANTS + CONTROL_VARIANTS
    if base.name in ("single-tb", "multitask64", "multitask64-ignore", "single-tb-negatives")
    for option, fields in GENERALIZATION_OPTIONS.items()
)
# The multi-task methods beyond the study (issue 23), each on top of multitask64: a weighting of the two
# losses, or the deep shared trunk. Those the fused step cannot train name the readable step themselves.
METHOD_OPTIONS = {
    "uncertainty": (("weighting", "uncertainty"),),
    "dwa": (("weighting", "dwa"),),
    "gradnorm": (("weighting", "gradnorm"), ("step", "readable")),
    "pcgrad": (("weighting", "pcgrad"), ("step", "readable")),
    "mgda": (("weighting", "mgda"), ("step", "readable")),
    "deep": (("trunk", "deep"), ("step", "readable")),
}
METHOD_VARIANTS = tuple(
    Variant(f"multitask64+{option}", "multitask64", options=fields, baseline="multitask64")
    for option, fields in METHOD_OPTIONS.items()
)
# The deep trunk's own single-task baseline: multitask64+deep against multitask64 changes the trunk and keeps
# the sharing; against single-tb+deep it keeps the trunk and adds the sharing (does a second head help TB
# once the shared trunk is deep enough to learn something?).
DEEP_BASELINE = Variant("single-tb+deep", "single-tb", options=METHOD_OPTIONS["deep"], baseline="single-tb")
ALL_VARIANTS = {
    v.name: v for v in VARIANTS + GENERALIZATION_VARIANTS + CONTROL_VARIANTS + METHOD_VARIANTS + (DEEP_BASELINE,)
}

# The variants a variant is compared with besides its baseline, which a comparison that runs it must run too.
PARTNERS = {"single-tb-negatives": ("single-tb", "multitask64"), "multitask64+deep": ("single-tb+deep",)}


def with_partners(names):
    """``names`` (variant names) followed by every baseline and partner they are paired with that is not
    among them, in order and without repeats; a baseline's own partners too (the control with an option
    needs the control, and the control needs single-tb and multitask64)."""
    names = list(dict.fromkeys(names))
    for name in names:  # grows while it is read: every added name is visited in turn
        variant = ALL_VARIANTS[name]
        added = ([variant.baseline] if variant.baseline else []) + list(PARTNERS.get(name, ()))
        names += [n for n in added if n not in names]
    return names


# The table rows of the study's models: which run gives each row's numbers for each task
# (single-task is two models, one per task).
ROWS = {
    "single-task": {"tb": "single-tb", "pneumonia": "single-pneumonia"},
    "multi-class": {"tb": "multiclass", "pneumonia": "multiclass"},
    "multi-task 64": {"tb": "multitask64", "pneumonia": "multitask64"},
    "multi-task 32": {"tb": "multitask32", "pneumonia": "multitask32"},
    "multi-task 64, other labels ignored": {"tb": "multitask64-ignore", "pneumonia": "multitask64-ignore"},
    "single-tb, Kermany as TB negatives": {"tb": "single-tb-negatives"},
}
BASELINE_ROW = "single-task"

# Rows paired a second time, with another row (same seeds, same test images): the study's question (2),
# does labelling the other dataset negative help or hurt compared with ignoring those images? The
# control: multitask64's TB labels without its pneumonia head, against multitask64 itself. And the deep
# trunk with two heads against the deep trunk with the TB head alone.
SECOND_PAIRS = {
    "multi-task 64, other labels ignored": "multi-task 64",
    "single-tb, Kermany as TB negatives": "multi-task 64",
    "multi-task 64 + deep": "single-tb + deep",
}


def rows_of(variants=VARIANTS):
    """(rows, paired_with) for a comparison of ``variants``: table row -> {task: variant name}, in
    order, and table row -> the row it is paired with (None for the baseline itself). The study's
    models keep their rows above; each variant with an option gets a row of its own, paired with the
    same model under the study's settings."""
    names = {v.name for v in variants}
    rows = {row: {t: n for t, n in tasks.items() if n in names} for row, tasks in ROWS.items()}
    rows = {row: tasks for row, tasks in rows.items() if tasks}
    paired = {row: (None if row == BASELINE_ROW else BASELINE_ROW) for row in rows}
    row_of_variant = {name: row for row, tasks in ROWS.items() for name in tasks.values()}
    for variant in variants:
        if variant.baseline is None:
            continue
        base_row = row_of_variant[variant.baseline]
        option = variant.name.split("+", 1)[1]
        # the tasks its baseline model is scored on (single-tb is only the TB half of the single-task row)
        tasks = tuple(task for task, name in ROWS[base_row].items() if name == variant.baseline)
        row = f"{'single-tb' if variant.baseline == 'single-tb' else base_row} + {option}"
        rows[row] = {task: variant.name for task in tasks}
        paired[row] = base_row
    return rows, paired


PROTOCOLS = {
    "study": {"split": "random", "val_fraction": 0.0},
    "honest": {"split": "patient", "val_fraction": 0.1},
}

# The study's Table 1 (precision, recall in percent; test = one random 20%, one unseeded run).
STUDY_TABLE = {
    "single-task": {"pneumonia": (95.7, 97.3), "tb": (81.0, 78.3)},
    "multi-class": {"pneumonia": (96.1, 95.5), "tb": (85.7, 77.1)},
    "multi-task 64": {"pneumonia": (99.5, 99.3), "tb": (98.7, 97.5)},
    "multi-task 32": {"pneumonia": (94.0, 96.0), "tb": (88.9, 81.2)},
}

METRICS = ("precision", "recall", "specificity", "f1", "roc_auc")


def run_config(base, variant, protocol, seed):
    """The RunConfig of one (variant, seed) under a protocol, from the user's base options."""
    return replace(
        base,
        arch=variant.arch,
        other_labels=variant.other_labels,
        seed=seed,
        **PROTOCOLS[protocol],
        **dict(variant.options),
    )
