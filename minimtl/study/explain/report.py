"""``explain.md``: how to read explain's figures and numbers, and what they say for this run."""

from minimtl.common.run_folder import SAVED_MODELS
from minimtl.study.explain.maps import CLASS_SAMPLES, OUTCOMES

__all__ = ["render_explain", "separation_words", "site_sentence", "ZERO_MAPS", "COLLAPSED"]

COLLAPSED = 0.01  # a head whose P(disease) spans less than this over the mapped images is called collapsed
# why a map can be zero at every pixel, per method
ZERO_MAPS = {
    "gradient": "every hidden unit of the head is off (ReLU) for those images, so the score is the head's bias "
    "alone and no pixel can move it; the head has nothing to say about them.",
    "smoothgrad": "the head's hidden units stay off for every noisy copy of those images.",
    "gradcam": "the weighted sum of the conv maps is negative at every pixel, which on a first conv layer (maps "
    "that mostly follow the local brightness) happens whenever the filters the score rewards on average are "
    "outweighed by those it punishes, or the head's units are all off.",
}


def separation_words(separation):
    """A site-separation max(AUC, 1 - AUC) in words."""
    if separation is None:
        return "cannot be measured (one group has no normal test image)"
    if separation >= 0.9:
        return "tells the two hospitals' healthy images apart almost perfectly: the score carries the site"
    if separation >= 0.75:
        return "tells the two hospitals' healthy images apart largely: the site is a big part of the score"
    if separation >= 0.6:
        return "tells the two hospitals' healthy images apart somewhat"
    return "hardly tells the two hospitals' healthy images apart"


def site_sentence(task, entry):
    """One sentence on a task's site separation (``entry`` from ``site_separation``), with its direction."""
    sentence = f"the {task} score {separation_words(entry['separation'])}"
    if entry["auc"] is not None and entry["auc"] < 0.5 and entry["separation"] >= 0.6:
        sentence += (
            f" (the other way round: the other hospital's healthy images get the higher P({task}), as images "
            "unlike any the head was taught on can)"
        )
    return sentence + "."


def _number(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _site_section(document):
    site = document["site_separation"]
    groups = site["groups"]
    lines = [
        "## 1. The site shortcut: do the disease scores know the hospital?",
        "",
        "Healthy children from Kermany and healthy adults from Shenzhen have neither disease, so a head that "
        "reads the lungs gives both groups about the same disease probability. For each score, the ROC-AUC "
        "below takes the normal test images of the task's own dataset as positives and those of the other "
        "dataset as negatives: **0.5 = the score does not know the hospital; near 1 = the head gives its own "
        "hospital's healthy images more disease probability than the other's** (it has learned the site; "
        "`--other-labels negative` teaches exactly that, since every image of the other hospital is a 'no' for "
        "the head). Near 0 also separates, the other way round; *separation* = max(AUC, 1 - AUC).",
        "",
        f"Images: {site['images']} ("
        + ", ".join(
            f"{g['normal_test_images']} {dataset} normals from {', '.join(g['sites']) or 'nowhere'}"
            for dataset, g in groups.items()
        )
        + "). Intervals: Hanley-McNeil 95%.",
        "",
        "| score | AUC (own normals > other normals) | 95% CI | separation | mean P, own normals "
        "| mean P, other normals |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task, entry in site["tasks"].items():
        ci = "n/a" if entry["ci95"] is None else f"{entry['ci95'][0]:.3f}-{entry['ci95'][1]:.3f}"
        means = entry["mean_probability"] or {}
        own, other = means.get(entry["positive"]), means.get(entry["negative"])
        lines.append(
            f"| P({task}) from head `{entry['head']}` | {_number(entry['auc'])} | {ci} "
            f"| {_number(entry['separation'])} | {_number(own)} | {_number(other)} |"
        )
    lines.append("")
    for task, entry in site["tasks"].items():
        sentence = site_sentence(task, entry)
        lines.append(f"- {sentence[0].upper()}{sentence[1:]}")
    return lines


def _saliency_section(document):
    settings = document["settings"]
    box = settings["lung_box"]
    uniform = 1 - box["area_share"]
    lines = [
        "## 2. Where the maps look",
        "",
        "Each map says which pixels the disease score depends on (the score is the head's logit of the "
        "disease class): *gradient* = |d score / d pixel|; *smoothgrad* = the mean of that over "
        f"{settings['smoothgrad']['samples']} copies with Gaussian noise (sigma = "
        f"{100 * settings['smoothgrad']['noise']:.0f}% of the image's range); *gradcam* = ReLU(sum over the 32 "
        "conv maps of (their mean gradient) x (the map)), the first and only conv layer's view (3x3 receptive "
        "field, so it is close to a weighted feature map). Bright = the score is sensitive there; a map shows "
        "sensitivity, not a reason.",
        "",
        f"The **lung box** is rows {box['top']:.0%}-{box['bottom']:.0%} and columns {box['left']:.0%}-"
        f"{box['right']:.0%} of the image ({box['area_share']:.0%} of the area), {box['note']}. A map spread evenly "
        f"would put {uniform:.0%} of its mass outside it; much more than that means the score leans on the "
        "borders, the corners (text markers) or the body outline. Shares are the mean over the images of each "
        f"class sample (up to {settings['images_per_class_sample']} test images drawn at random per class).",
        "",
        "| score | method | outside box: " + " | ".join(CLASS_SAMPLES.values()) + " |",
        "| --- | --- | " + " | ".join("---" for _ in CLASS_SAMPLES) + " |",
    ]
    for task, summary in document["saliency"].items():
        for method, shares in summary["outside_box"].items():
            lines.append(f"| {task} | {method} | " + " | ".join(_percent(shares[g]) for g in CLASS_SAMPLES) + " |")
    lines.append("")
    for task, summary in document["saliency"].items():
        for method, zero in summary["all_zero_maps"].items():
            if zero:
                lines.append(
                    f"- {task}, {method}: {zero} of {summary['maps']} maps are zero everywhere (left out of the "
                    f"shares): {ZERO_MAPS[method]}"
                )
        own = {m: s["own"] for m, s in summary["outside_box"].items() if s["own"] is not None}
        if own:
            method, share = max(own.items(), key=lambda item: item[1])
            verdict = "more than" if share > uniform + 0.05 else ("less than" if share < uniform - 0.05 else "about")
            lines.append(
                f"- {task}: up to {share:.0%} of the saliency ({method}) on the task's own test images lies outside "
                f"the lung box, {verdict} the {uniform:.0%} of an even spread."
            )
    return lines + [""]


def _figures_section(document):
    settings = document["settings"]
    outcomes = ", ".join(f"`{key}` = {words}" for key, (_, _, words) in OUTCOMES.items())
    return [
        "## 3. The figures",
        "",
        f"- `TASK-METHOD-OUTCOME.png`: up to {settings['images_per_outcome']} test images of one outcome, drawn at "
        f"random from the seed ({settings['seed']}), each with its map overlaid (heat colour, transparent where "
        f"low, scaled to the image's own 99th percentile) and its P(disease). Outcomes: {outcomes}. "
        "Look for heat on the lungs (good), or on the edges, the corners, letters and the body outline (the site).",
        "- `TASK-mean.png`: per method (rows), the mean map of each class sample (columns: "
        + ", ".join(CLASS_SAMPLES.values())
        + ") over the sample's mean image, each map scaled to sum 1 first so every image weighs the same; the "
        "dashed box is the lung box.",
        "",
        "Files written: " + ", ".join(f"`{name}`" for name in document["figures"]) + ".",
        "",
    ]


def _shift_section(document):
    shift = document["shift_test"]
    if shift is None:
        return ["## 4. Shift test", "", "Not run (`python cli.py explain RUN_DIR --shift` runs it).", ""]
    lines = [
        "## 4. Shift test: changes a disease detector should shrug off",
        "",
        "Each task's own test images (split.json), scored again after one shift at a time. A small AUC "
        "change is what a lung reader shows; a large one means the score used what the shift changed. The "
        "mean P(disease) change shows a shift moving every score (the 0.5 threshold) without reordering them.",
        "",
        "| score | shift | what | AUC | AUC change | mean P change |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task, result in shift["tasks"].items():
        lines.append(f"| {task} | none | the original images (n={result['images']}) | {_number(result['auc'])} | | |")
        for name, after in result["shifted"].items():
            what = shift["shifts"][name]["what"]
            if "skipped" in after:
                lines.append(f"| {task} | {name} | {what} | skipped: {after['skipped']} | | |")
                continue
            change = "n/a" if after["auc_change"] is None else f"{after['auc_change']:+.3f}"
            lines.append(
                f"| {task} | {name} | {what} | {_number(after['auc'])} | {change} | "
                f"{after['mean_probability_change']:+.3f} |"
            )
    lines.append("")
    for task, result in shift["tasks"].items():
        changes = {n: a["auc_change"] for n, a in result["shifted"].items() if a.get("auc_change") is not None}
        if changes:
            worst = min(changes, key=changes.get)
            lines.append(f"- {task}: the worst AUC change is {changes[worst]:+.3f}, after `{worst}`.")
    return lines + [""]


def _in_short(document):
    """The headline numbers, one line each."""
    lines = ["## In short", ""]
    for task, entry in document["site_separation"]["tasks"].items():
        lines.append(f"- Site separation, ROC-AUC {_number(entry['auc'])}: {site_sentence(task, entry)}")
    for task, summary in document["saliency"].items():
        shares = ", ".join(f"{m} {_percent(s['own'])}" for m, s in summary["outside_box"].items())
        lines.append(f"- {task}: saliency outside the lung box on its own test images: {shares}.")
        if summary.get("score_range") is not None and summary["score_range"] < COLLAPSED:
            lines.append(
                f"- **The {task} head is collapsed**: P({task}) varies by less than {COLLAPSED} over the "
                f"{summary['maps']} images mapped (its hidden units are off for almost every image; docs/study.md), "
                "so its maps and AUCs describe a constant, not a reader of the lungs."
            )
    if document["shift_test"] is not None:
        for task, result in document["shift_test"]["tasks"].items():
            changes = {n: a["auc_change"] for n, a in result["shifted"].items() if a.get("auc_change") is not None}
            if changes:
                worst = min(changes, key=changes.get)
                lines.append(
                    f"- {task}: test ROC-AUC {_number(result['auc'])}; the worst AUC change after a shift is "
                    f"{changes[worst]:+.3f} (`{worst}`)."
                )
    return lines + [""]


def render_explain(document):
    """The text of explain.md from the explain.json ``document``."""
    options = document["options"]
    synthetic = document["synthetic"]
    header = [
        f"# What the {document['arch']} run looks at" + (" (SYNTHETIC phantoms)" if synthetic else ""),
        "",
        f"Run `{document['run']}`: {document['arch']}, {options['head']} heads, "
        + (
            f"other dataset's images as `{options['other_labels']}`, "
            if document["arch"].startswith("multitask")
            else ""
        )
        + f"{options['image_size']} px, {options['split']} split, seed {options['seed']}, "
        f"{options['epochs']} epochs. Model explained: **{document['weights']}** "
        f"({SAVED_MODELS[document['weights']][1]}, `{document['weights_file']}`). Every number is also in "
        "`explain.json`.",
        "",
    ]
    if synthetic:
        header += [
            "**SYNTHETIC**: these are the built-in phantoms, not X-rays. Their two 'sites' differ on purpose "
            "(body size, contrast, a frame, a corner marker), so the numbers only show that the tools work.",
            "",
        ]
    caveats = [
        "## Caveats",
        "",
        "- Saliency maps show where a small change would move the score, not why the model decided; raw "
        "gradients of a ReLU network are noisy, which SmoothGrad averages out.",
        "- The lung box is a fixed stand-in, not a segmentation; the site-separation AUC is the sharper test.",
        "- All numbers come from one model of one seed; compare seeds before concluding.",
        "",
    ]
    sections = (
        header
        + _in_short(document)
        + _site_section(document)
        + [""]
        + _saliency_section(document)
        + _figures_section(document)
    )
    return "\n".join(sections + _shift_section(document) + caveats)
