"""``python cli.py compare``: every architecture, several seeds, intervals, and the study beside us."""

import sys
from pathlib import Path

import click

from minimtl.commands.options import (
    USER_ERRORS,
    announce_data,
    click_progress,
    data_options,
    echo_err,
    load_run_data,
    memory_line,
    training_options,
    write_error_message,
)
from minimtl.data import DataError
from minimtl.data.external import find_external_sites, load_external
from minimtl.study.compare.comparison import choose_variants, comparison_configs, default_out, run_comparison
from minimtl.study.compare.runs import plan_commands
from minimtl.study.compare.variants import GENERALIZATION_OPTIONS, METHOD_OPTIONS, PROTOCOLS, VARIANTS
from minimtl.study.run.external import set_name
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
    help="honest: patient split, validation, each task's best validation epoch (--selection); study: random split, "
    "no validation, last epoch",
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
    + " (e.g. multitask64+equalize), paired with the same model under the study's settings; the control "
    "single-tb-negatives (single-tb trained on multitask64's TB labels: Kermany images as TB negatives), paired "
    "with single-tb and multitask64; and the multi-task methods multitask64+"
    + ", multitask64+".join(METHOD_OPTIONS)
    + " (paired with multitask64)",
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
@click.option(
    "--external",
    "external_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="an external TB set (<root>/<site>/{normal,tb}/; repeatable): every finished run's TB model is scored on "
    "each site and the tables gain its ROC-AUC, paired with each row's baseline (DeLong on the same images); "
    "kept in each run's external/ folder. It scores finished models only: choose nothing by it",
)
@click.option(
    "--saliency",
    is_flag=True,
    help="also write saliency.md: the share of each TB model's saliency outside the lung box, over seeds "
    "(computed once per run and kept in its saliency.json)",
)
@click.option("--progress/--no-progress", default=False, show_default=True, help="a progress bar per epoch")
def compare_command(
    seeds, protocol, reshuffled_test, variants, epochs, batch_size, lr, patience, selection, step, normalize,
    crop_borders, augment, data_dir, phantoms, image_size, crop, strict, out, jobs, plan, external_dirs, saliency,
    progress,
):  # fmt: skip
    """Run every architecture over several seeds and compare them with intervals and paired tests.

    Finished runs are reused, so the command can be stopped (Ctrl-C) and started again. Writes
    table.md (the study's numbers beside ours, paired tests against single-task), summary.json,
    metrics.png and roc.png. --external DIR adds each external site's TB ROC-AUC; --saliency writes
    saliency.md.
    """
    try:
        chosen = choose_variants([name.strip() for name in variants.split(",") if name.strip()])
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--variants") from None
    try:
        for folder in external_dirs:
            find_external_sites(folder)  # a folder that is not a TB set is refused before any training
    except DataError as error:
        raise click.BadParameter(str(error), param_hint="--external") from None
    names = [set_name(folder) for folder in external_dirs]
    if len(set(names)) < len(names):
        raise click.BadParameter(
            f"two external sets share a name ({', '.join(names)}): rename one folder", param_hint="--external"
        )
    out = out or default_out(protocol, image_size, epochs)
    base = RunConfig(
        image_size=image_size, crop=crop, batch_size=batch_size, epochs=epochs, lr=lr, patience=patience, step=step,
        normalize=normalize, crop_borders=crop_borders, augment=augment, selection=selection,
    )  # fmt: skip
    seed_list = list(range(seeds))
    try:
        if plan:
            for line in plan_commands(base, out, protocol, seed_list, chosen, data_dir, phantoms=phantoms):
                click.echo(line)
            return
        synthetic = announce_data(data_dir, phantoms)  # the first lines: what the runs train on
        echo_err(memory_line(comparison_configs(base, chosen, protocol), data_dir, synthetic, jobs=jobs))
        comparison = run_comparison(
            base, chosen, protocol, seed_list, out,
            images_for=lambda decode_crop: load_run_data(
                data_dir, image_size, decode_crop, strict, progress=True, synthetic=synthetic
            ),
            reshuffled=reshuffled_test, jobs=jobs, log=echo_err, progress=click_progress if progress else None,
            externals_for=(
                (lambda decode_crop: [load_external(d, image_size, decode_crop, strict) for d in external_dirs])
                if external_dirs else None
            ),
            saliency=saliency,
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
    click.echo(f"wrote {out}/{', '.join(comparison.files)}")
