"""``python cli.py compare``: every architecture, several seeds, intervals, and the study beside us."""

from pathlib import Path

import click

from minimtl.commands.options import click_progress, data_options, echo_err, load_run_data
from minimtl.common.atomic import write_text
from minimtl.study.compare import PROTOCOLS, VARIANTS, summarise
from minimtl.study.compare_report import plot_metric_dots, plot_roc_curves, render_table, write_summary
from minimtl.study.compare_runs import estimate_seconds, run_all
from minimtl.training.config import RunConfig

DEFAULTS = RunConfig()


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
    help="also score every model on a freshly reshuffled 20%% (as the study's notebook did)",
)
@click.option(
    "--variants",
    default=",".join(v.name for v in VARIANTS),
    show_default=True,
    help="comma-separated subset of the variants to run",
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS.lr, show_default=True)
@data_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output folder [default: compare/PROTOCOL-SIZEpx-EPOCHSep]",
)
@click.option("--progress/--no-progress", default=False, show_default=True, help="a progress bar per epoch")
def compare_command(
    seeds,
    protocol,
    reshuffled_test,
    variants,
    epochs,
    batch_size,
    lr,
    data_dir,
    image_size,
    crop,
    strict,
    out,
    progress,
):
    """Run every architecture over several seeds and compare them with intervals.

    Finished runs are reused, so the command can be stopped (Ctrl-C) and started again. Writes
    table.md (the study's numbers beside ours), summary.json, metrics.png and roc.png.
    """
    by_name = {v.name: v for v in VARIANTS}
    chosen = [name.strip() for name in variants.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in by_name]
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown variant(s) {unknown}; choose from {', '.join(by_name)}", param_hint="--variants"
        )
    chosen_variants = [by_name[name] for name in chosen]
    out = out or Path("compare") / f"{protocol}-{image_size}px-{epochs}ep"
    base = RunConfig(image_size=image_size, crop=crop, batch_size=batch_size, epochs=epochs, lr=lr)
    collection = load_run_data(data_dir, image_size, crop, strict, progress=True)
    seed_list = list(range(seeds))
    log = echo_err
    estimate = estimate_seconds(base, collection, protocol, seed_list, chosen_variants)
    log(
        f"{len(chosen_variants) * seeds} runs ({', '.join(chosen)} x seeds {seed_list}), {protocol} protocol, "
        f"{image_size} px, {epochs} epochs: expected about {estimate / 60:.0f} min on this machine "
        f"(finished runs in {out} are reused)"
    )
    per_run = run_all(
        base,
        collection,
        out,
        protocol,
        seed_list,
        reshuffled=reshuffled_test,
        variants=chosen_variants,
        log=log,
        progress=click_progress if progress else None,
    )
    summary = summarise(per_run, seed_list)
    settings = {
        "protocol": protocol,
        "image_size": image_size,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seeds": seed_list,
        "variants": chosen,
        "synthetic": bool(collection.synthetic),
        "model_choice": "best validation epoch" if protocol == "honest" else "last epoch",
        **PROTOCOLS[protocol],
    }
    reshuffled_summary, overlap = None, None
    if reshuffled_test:
        reshuffled_summary = summarise(per_run, seed_list, key="reshuffled")
        overlaps = [entry["train_overlap"] for entry in per_run.values()]
        overlap = sum(overlaps) / len(overlaps)
    write_summary(out / "summary.json", summary, settings, reshuffled_summary)
    write_text(out / "table.md", render_table(summary, settings, reshuffled_summary, overlap))
    plot_metric_dots(summary, out / "metrics.png", collection.synthetic)
    plot_roc_curves(out, seed_list, out / "roc.png", collection.synthetic)
    click.echo(f"wrote {out}/table.md, summary.json, metrics.png, roc.png")
