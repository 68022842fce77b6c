"""``python cli.py explain RUN_DIR``: what a saved model looks at, and whether it learned the hospital."""

from pathlib import Path

import click

from minimtl.commands.options import echo_err, load_run_data
from minimtl.common.run_folder import RunFolder
from minimtl.study.explain.explain_run import explain_run
from minimtl.study.explain.maps import METHODS
from minimtl.study.run.saved_run import WEIGHTS, RunError, open_saved_run

__all__ = ["explain_command"]

HELP = """Saliency maps, the site shortcut and (with --shift) the shift test of a saved run.

\b
Writes into RUN_DIR/explain/ (or --out):
  TASK-METHOD-OUTCOME.png  test images with their saliency overlaid (tp, fp, fn, tn)
  TASK-mean.png            the mean map per class, with the lung box
  explain.json             every number, the weights and the images used
  explain.md               how to read them, and what they say for this run
The site-separation AUC says how well each disease score tells the healthy images of the two
hospitals apart (0.5: not at all; near 1: the head has learned the site).
"""


@click.command("explain", help=HELP)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="the run's images [default: the run's own data folder]",
)
@click.option("--task", type=click.Choice(["tb", "pneumonia"]), default=None, help="[default: every task of the run]")
@click.option(
    "--images",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="N test images per outcome grid (tp, fp, fn, tn); 4N per class for the mean maps and the shares",
)
@click.option("--method", type=click.Choice([*METHODS, "all"]), default="all", show_default=True)
@click.option(
    "--weights",
    type=click.Choice(WEIGHTS),
    default=None,
    help="best or last [default: the model the run stands for: best when it has best.npz]",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="[default: RUN_DIR/explain]"
)
@click.option("--seed", type=int, default=0, show_default=True, help="picks the images and SmoothGrad's noise")
@click.option("--shift", is_flag=True, help="also score the test images after each image shift (border, text, ...)")
def explain_command(run_dir, data_dir, task, images, method, weights, out, seed, shift):
    try:
        run = open_saved_run(run_dir, weights)
        run.weights_files()  # a missing model is named before the images load
        collection = load_run_data(
            data_dir or run.data_dir,
            run.config.image_size,
            run.config.decode_crop,
            strict=False,
            progress=False,
            synthetic=run.synthetic and data_dir is None,
        )
        document = explain_run(
            run_dir,
            collection,
            out_dir=out,
            tasks=None if task is None else [task],
            per_group=images,
            methods=METHODS if method == "all" else (method,),
            weights=weights,
            seed=seed,
            shift=shift,
            log=echo_err,
        )
    except RunError as error:
        raise click.ClickException(str(error)) from None
    tag = "  [SYNTHETIC]" if document["synthetic"] else ""
    for name, entry in document["site_separation"]["tasks"].items():
        auc = "n/a" if entry["auc"] is None else f"{entry['auc']:.3f}"
        click.echo(f"site separation, P({name}) on the two hospitals' normal test images: ROC-AUC {auc}{tag}")
    for name, summary in document["saliency"].items():
        shares = ", ".join(f"{m} {_percent(s['own'])}" for m, s in summary["outside_box"].items())
        click.echo(f"{name}: saliency outside the lung box: {shares}{tag}")
    if document["shift_test"] is not None:
        for name, result in document["shift_test"]["tasks"].items():
            changes = ", ".join(f"{n} {_signed(a.get('auc_change'))}" for n, a in result["shifted"].items())
            click.echo(f"{name}: test AUC change after each shift: {changes}{tag}")
    where = out or RunFolder(run_dir).explain
    click.echo(f"wrote {where}/ (explain.md, explain.json, {len(document['figures'])} figures)")


def _percent(share):
    return "n/a" if share is None else f"{100 * share:.0f}%"


def _signed(change):
    return "n/a" if change is None else f"{change:+.3f}"
