"""What a Collection (and optionally a Split) holds, as a JSON-ready dict and as text."""

from collections import Counter

import numpy as np

from minimtl.data.decode import ENLARGE_RESAMPLER, SHRINK_RESAMPLER
from minimtl.data.leaks import duplicate_groups

__all__ = ["summarize", "format_summary"]


def summarize(collection, split=None):
    """Describe ``collection`` (and ``split``) in plain types.

    Inputs:
    - collection: Collection; split: Split or None.

    Returns:
    - dict with ``synthetic``, ``data_dir``, ``image_size``, ``crop``, ``resize``, ``images``,
      ``datasets`` (per dataset: images, sites, labels, official_split, patients,
      patients_with_several_images), ``duplicates`` (groups, images, examples), ``skipped``
      (list of {path, reason}), ``ignored`` (count), and ``split`` (method, per side counts by
      dataset and label, leaks) when a split is given.
    """
    datasets = {}
    for name in collection.datasets():
        rows = np.flatnonzero(collection.dataset == name)
        label_names = _label_names(collection, name)
        per_patient = Counter(collection.patient[rows].tolist())
        official = {}
        for split_name in sorted(set(collection.official_split[rows].tolist()) - {""}):
            chosen = rows[collection.official_split[rows] == split_name]
            official[split_name] = _label_counts(collection.labels[chosen], label_names)
        datasets[name] = {
            "images": int(len(rows)),
            "sites": dict(sorted(Counter(collection.site[rows].tolist()).items())),
            "labels": _label_counts(collection.labels[rows], label_names),
            "official_split": official,
            "patients": len(per_patient),
            "patients_with_several_images": sum(1 for count in per_patient.values() if count > 1),
        }
    duplicates = duplicate_groups(collection.pixel_hash)
    summary = {
        "synthetic": bool(collection.synthetic),
        "data_dir": collection.data_dir,
        "image_size": int(collection.image_size),
        "crop": collection.crop,
        "resize": f"per axis: {SHRINK_RESAMPLER.name} when shrinking, {ENLARGE_RESAMPLER.name} when enlarging",
        "images": len(collection),
        "datasets": datasets,
        "duplicates": {
            "groups": len(duplicates),
            "images": int(sum(len(g) for g in duplicates)),
            "examples": [collection.paths[g].tolist() for g in duplicates[:3]],
        },
        "skipped": [{"path": path, "reason": reason} for path, reason in collection.skipped],
        "ignored": len(collection.ignored),
    }
    if split is not None:
        sides = {}
        for side, idx in split.sides().items():
            sides[side] = {}
            for name in collection.datasets():
                rows = idx[collection.dataset[idx] == name]
                sides[side][name] = _label_counts(collection.labels[rows], _label_names(collection, name))
        summary["split"] = {"method": split.method, "sides": sides, "leaks": split.leaks}
    return summary


def _label_names(collection, dataset):
    names = collection.label_names.get(dataset)
    if names:
        return list(names)
    largest = int(collection.labels[collection.dataset == dataset].max(initial=0))
    return [str(label) for label in range(largest + 1)]


def _label_counts(labels, names):
    counts = np.bincount(labels, minlength=len(names))
    return {names[k] if k < len(names) else str(k): int(c) for k, c in enumerate(counts)}


def format_summary(summary):
    """The summary as lines of text for a terminal.

    Inputs:
    - summary: dict from ``summarize``.

    Returns:
    - str (no trailing newline).
    """
    lines = []
    if summary["synthetic"]:
        lines.append(
            "SYNTHETIC DATA: built-in phantoms, not chest X-rays; no result on them says anything about patients."
        )
    source = summary["data_dir"] or "(generated)"
    lines.append(
        f"{summary['images']} images from {source}, {summary['image_size']}x{summary['image_size']} uint8, "
        f"crop={summary['crop']}, resize {summary['resize']}"
    )
    for name, info in summary["datasets"].items():
        sites = ", ".join(f"{site} {count}" for site, count in info["sites"].items())
        labels = ", ".join(f"{label} {count}" for label, count in info["labels"].items())
        lines.append(f"  {name}: {info['images']} images ({labels}); sites: {sites}")
        for split_name, counts in info["official_split"].items():
            lines.append(f"    official {split_name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        lines.append(f"    patients: {info['patients']} ({info['patients_with_several_images']} with several images)")
    dup = summary["duplicates"]
    lines.append(f"duplicates: {dup['groups']} groups of pixel-identical images ({dup['images']} files)")
    for example in dup["examples"]:
        lines.append("  e.g. " + ", ".join(example))
    if summary["ignored"]:
        lines.append(f"ignored: {summary['ignored']} image files outside the recognised layouts")
    lines.append(f"skipped: {len(summary['skipped'])} files or folders")
    for item in summary["skipped"]:
        lines.append(f"  {item['path']}: {item['reason']}")
    if "split" in summary:
        split = summary["split"]
        leaks = split["leaks"]
        lines.append(f"split: {split['method']}")
        for side, per_dataset in split["sides"].items():
            parts = "; ".join(
                f"{name} " + ", ".join(f"{k} {v}" for k, v in counts.items()) for name, counts in per_dataset.items()
            )
            lines.append(f"  {side} {leaks['sizes'][side]}: {parts}")
        lines.append(
            f"  leaks: {leaks['duplicate_groups_crossing']} of {leaks['duplicate_groups']} duplicate groups and "
            f"{leaks['patients_crossing']} of {leaks['patients']} patients cross sides; "
            f"{leaks['test_images_linked_to_training']} test images share a patient or pixels with train/val"
        )
        for pair, counts in leaks["pairs"].items():
            lines.append(f"    {pair}: {counts['duplicate_groups']} duplicate groups, {counts['patients']} patients")
    return "\n".join(lines)
