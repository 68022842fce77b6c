"""table.md's section on external sites: each row's TB ROC-AUC per site, paired with its baseline, and
the adult site probe.

External sites score finished runs only (:mod:`minimtl.study.run.external`); these tables report them
and choose nothing.
"""

from minimtl.study.compare.cells import auc_cell, delong_cell, difference, interval, p_value, seed_counts
from minimtl.study.compare.verdicts import pairs_of

__all__ = ["external_tables", "external_columns"]


def external_columns(summary, task):
    """[(set, site)] of every external site the rows of ``task`` were scored on, in order ("pooled" last)."""
    columns = []
    for cells in summary.values():
        for name, sites in cells.get(task, {}).get("external", {}).items():
            columns += [(name, site) for site in sites if (name, site) not in columns]
    return columns


def external_tables(summary, task):
    """Markdown lines: per row and external site, the task's ROC-AUC and the adult site probe over seeds;
    then each paired comparison per site. Nothing when no run was scored on an external site."""
    columns = external_columns(summary, task)
    if not columns:
        return []
    out = [
        f"On external sites (every finished run's {task} model scored on another hospital's images after training; "
        "nothing was chosen by them): the ROC-AUC per site, mean over seeds [95% t interval], the pooled figure "
        "beside the sites only (it partly measures the machine and the file format). 'adult site probe': how well "
        f"P({task}) tells the run's own healthy test adults from the site's healthy images, max(AUC, 1 - AUC) "
        "(heads that trained; 0.5: it does not know the hospital).",
        "",
        "| model | " + " | ".join(f"{name}/{site} ROC-AUC" for name, site in columns) + " | "
        + " | ".join(f"{name}/{site} adult site probe" for name, site in columns) + " |",
        "| --- |" + " --- |" * (2 * len(columns)),
    ]  # fmt: skip
    for row, cells in summary.items():
        external = cells.get(task, {}).get("external")
        if not external:
            continue
        entries = [external.get(name, {}).get(site) for name, site in columns]
        out.append(
            f"| {row} | "
            + " | ".join(auc_cell(e["roc_auc"]) if e else "" for e in entries)
            + " | "
            + " | ".join(auc_cell(e["adult_site"]) if e else "" for e in entries)
            + " |"
        )
    pairs = [(row, vs, paired["external"]) for row, vs, paired in pairs_of(summary, task) if paired.get("external")]
    if pairs:
        out += [
            "",
            "Paired with each row's baseline on the same seeds and the same external images (model - baseline): "
            "ROC-AUC difference [95% t], Wilcoxon p, seeds better/worse/equal, DeLong per seed (seeds with p < 0.05, "
            "and how many favour the model); the adult site probe's difference (below 0: the model's score knows "
            "the hospital less).",
            "",
            "| model | vs | on | ROC-AUC diff | Wilcoxon p | seeds +/-/= | DeLong p<0.05 | adult site probe diff |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row, vs, external in pairs:
            for name, site in columns:
                paired = external.get(name, {}).get(site)
                if paired is None:
                    continue
                out.append(
                    f"| {row} | {vs} | {name}/{site} | {difference(paired, scale=1, digits=3)} | "
                    f"{p_value(paired['wilcoxon_p'])} | {seed_counts(paired)} | {delong_cell(paired)} | "
                    f"{interval(paired.get('adult_site'), signed=True, missing='')} |"
                )
    return out
