"""What a scan of the data folder found, per layout, in lines for the user: ``run``, ``compare`` and
``data`` print them before anything is decoded, so a folder that holds something else than meant is
seen before a long run starts."""

from collections import Counter

__all__ = ["describe_scan", "LAYOUT_WORDS"]

# layout -> how its files are recognised
LAYOUT_WORDS = {
    "kermany": "chest_xray/<split>/<NORMAL|PNEUMONIA>/ files",
    "nlm": "CHNCXR_/MCUCXR_ files",
    "generic": "<class>/ folders",
}
EXAMPLES = 3


def describe_scan(scan, folder):
    """Lines saying what ``scan`` (a ``layouts.Scan`` of ``folder``) found.

    One line per layout that matched (its images, datasets, classes and sites), then the image files
    in no layout (ignored) and the files and folders that cannot be used (skipped), each with examples.
    """
    lines = [f"images found in {folder}:"]
    for layout in scan.layouts:
        records = [r for r in scan.records if r.layout == layout]
        parts = []
        for dataset in sorted({r.dataset for r in records}):
            mine = [r for r in records if r.dataset == dataset]
            names = scan.label_names.get(dataset, ())
            labels = Counter(names[r.label] if r.label < len(names) else str(r.label) for r in mine)
            sites = Counter(r.site for r in mine)
            parts.append(
                f"{dataset} {len(mine)} ("
                + ", ".join(f"{label} {count}" for label, count in sorted(labels.items()))
                + ("; sites " + ", ".join(f"{site} {count}" for site, count in sorted(sites.items())) if len(sites) > 1
                   or dataset not in sites else "")
                + ")"
            )  # fmt: skip
        lines.append(f"  {layout} layout ({LAYOUT_WORDS[layout]}): {len(records)} images: " + "; ".join(parts))
    if scan.ignored:
        lines.append(
            f"  ignored: {len(scan.ignored)} image files in none of these layouts (e.g. "
            + ", ".join(scan.ignored[:EXAMPLES])
            + ")"
        )
    if scan.skipped:
        lines.append(
            f"  skipped: {len(scan.skipped)} files or folders that cannot be used (e.g. "
            + "; ".join(f"{path}: {reason}" for path, reason in scan.skipped[:EXAMPLES])
            + ")"
        )
    return lines
