"""``python cli.py compare``: every architecture, several seeds, intervals, and the study beside us."""

import sys
from pathlib import Path

import click

from minimtl.commands.options import (
    USER_ERRORS,
    click_progress,
    data_options,
    echo_err,
    load_run_data,
    memory_line,
    training_options,
    write_error_message,
)
from minimtl.common.atomic import write_text
from minimtl.common.messages import plural
from minimtl.study.compare import summarise
from minimtl.study.compare_report import plot_metric_dots, plot_roc_curves, render_table, write_summary
from minimtl.study.compare_runs import estimate_seconds, plan_commands, run_all
from minimtl.study.variants import (
    ALL_VARIANTS,
    GENERALIZATION_OPTIONS,
    METHOD_OPTIONS,
    PROTOCOLS,
    VARIANTS,
    rows_of,
    run_config,
)
from minimtl.training.config import RunConfig
from minimtl.training.train import TrainingInterrupted


@click.command("compare")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="train each architecture with seeds 0 .. N-1",
)
@click.option(
    "--protocol",
    type=click.Choice(list(PROTOCOLS)),
    default="honest",
    show_default=True,
    help="honest: patient split, validation, best-validation epoch; study: random split, no validation, last epoch",
)
@click.option(
    "--reshuffled-test",
    is_flag=True,
    help="also score every model on a freshly reshuffled 20% (as the study's notebook did)",
)
@click.option(
    "--variants",
    default=",".join(v.name for v in VARIANTS),
    show_default=True,
    help="comma-separated variants to run: the study's models above, and beyond the study each of "
    "single-tb, multitask64 and multitask64-ignore with +"
    + ", +".join(GENERALIZATION_OPTIONS)
    + " (e.g. multitask64+equalize), paired with the same model under the study's settings; and the multi-task "
    "methods multitask64+" + ", multitask64+".join(METHOD_OPTIONS) + " (paired with multitask64)",
)
@training_options
@data_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output folder [default: compare/PROTOCOL-SIZEpx-EPOCHSep]",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="train this many runs at once, in worker processes sharing the cores (the same results as 1)",
)
@click.option(
    "--plan",
    is_flag=True,
    help="print one `python cli.py run ...` line per unfinished run (for GNU parallel, xargs -P or a Slurm array "
    "on machines sharing --out) and stop; run compare again afterwards to aggregate",
)
@click.option("--progress/--no-progress", default=False, show_default=True, help="a progress bar per epoch")
def compare_command(
    seeds, protocol, reshuffled_test, variants, epochs, batch_size, lr, patience, step, normalize, crop_borders,
    augment, data_dir, image_size, crop, strict, out, jobs, plan, progress,
):  # fmt: skip
    """Run every architecture over several seeds and compare them with intervals and paired tests.

    Finished runs are reused, so the command can be stopped (Ctrl-C) and started again. Writes
    table.md (the study's numbers beside ours, paired tests against single-task), summary.json,
    metrics.png and roc.png.
    """
    chosen = [name.strip() for name in variants.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ALL_VARIANTS]
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown variant(s) {unknown}; choose from {', '.join(ALL_VARIANTS)}", param_hint="--variants"
        )
    # a variant beyond the study is paired with its baseline, which the comparison must hold too
    chosen += [ALL_VARIANTS[n].baseline for n in chosen if ALL_VARIANTS[n].baseline not in (None, *chosen)]
    chosen_variants = [ALL_VARIANTS[name] for name in dict.fromkeys(chosen)]
    chosen = [v.name for v in chosen_variants]
    out = out or Path("compare") / f"{protocol}-{image_size}px-{epochs}ep"
    base = RunConfig(
        image_size=image_size, crop=crop, batch_size=batch_size, epochs=epochs, lr=lr, patience=patience, step=step,
        normalize=normalize, crop_borders=crop_borders, augment=augment,
    )  # fmt: skip
    seed_list = list(range(seeds))
    try:
        if plan:
            for line in plan_commands(base, out, protocol, seed_list, chosen_variants, data_dir):
                click.echo(line)
            return
        configs = [run_config(base, v, protocol, 0) for v in chosen_variants]
        echo_err(memory_line(configs, data_dir, jobs=jobs))
        collections = {}  # decode_crop -> the images decoded that way (most comparisons need one)
        for decode_crop in dict.fromkeys(c.decode_crop for c in configs):
            collections[decode_crop] = load_run_data(data_dir, image_size, decode_crop, strict, progress=True)
        collection = next(iter(collections.values()))  # for the time estimate and the SYNTHETIC mark
        estimate = estimate_seconds(base, collection, protocol, seed_list, chosen_variants)
        echo_err(
            f"{len(chosen_variants) * seeds} runs ({', '.join(chosen)} x seeds {seed_list}), {protocol} protocol, "
            f"{image_size} px, at most {plural(epochs, 'epoch')}: at most about {estimate / 60 / jobs:.0f} min on "
            f"this machine (finished runs in {out} are reused)"
        )
        per_run = run_all(
            base, lambda config: collections[config.decode_crop], out, protocol, seed_list,
            reshuffled=reshuffled_test, variants=chosen_variants,
            log=echo_err, progress=click_progress if progress else None, jobs=jobs,
        )  # fmt: skip
    except TrainingInterrupted as stop:
        echo_err(f"\n{stop}. Saved. Run the same compare command again to continue.")
        sys.exit(130)
    except ValueError as error:  # a finished run made with other options
        raise click.ClickException(str(error)) from None
    except USER_ERRORS as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(write_error_message(error, out)) from None
    settings = {
        "protocol": protocol,
        "image_size": image_size,
        "epochs": epochs,
        "patience": patience,
        "batch_size": batch_size,
        "lr": lr,
        "step": step,
        "normalize": normalize,
        "crop_borders": crop_borders,
        "augment": augment,
        "seeds": seed_list,
        "variants": chosen,
        "synthetic": bool(collection.synthetic),
        "model_choice": "best validation epoch" if protocol == "honest" else "last epoch",
        "run_seconds": {f"{name}-seed{seed}": entry["seconds"] for (name, seed), entry in per_run.items()},
        "run_epochs": {f"{name}-seed{seed}": entry["epochs"] for (name, seed), entry in per_run.items()},
        **PROTOCOLS[protocol],
    }
    summary = summarise(per_run, seed_list, variants=chosen_variants)
    without_collapsed = summarise(per_run, seed_list, exclude_collapsed=True, variants=chosen_variants)
    reshuffled_summary, overlap = None, None
    if reshuffled_test:
        reshuffled_summary = summarise(per_run, seed_list, key="reshuffled", variants=chosen_variants)
        overlaps = [entry["train_overlap"] for entry in per_run.values()]
        overlap = sum(overlaps) / len(overlaps)
    write_summary(out / "summary.json", summary, settings, reshuffled_summary, without_collapsed)
    write_text(out / "table.md", render_table(summary, settings, reshuffled_summary, overlap, without_collapsed))
    plot_metric_dots(summary, out / "metrics.png", collection.synthetic)
    rows, _ = rows_of(chosen_variants)
    plot_roc_curves(per_run, seed_list, rows, out / "roc.png", settings["model_choice"], collection.synthetic)
    click.echo(f"wrote {out}/table.md, summary.json, metrics.png, roc.png")
