"""``python cli.py evaluate RUN_DIR``: score a saved model, on its own test images or another site."""

import json
from pathlib import Path

import click

from minimtl.commands.options import USER_ERRORS, load_run_data
from minimtl.common.atomic import write_json
from minimtl.common.run_folder import SAVED_MODELS
from minimtl.study.run.report import metrics_table
from minimtl.study.run.saved_run import WEIGHTS, evaluate_saved_run, open_saved_run
from minimtl.training.checkpoint import CheckpointError


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="images to score [default: the run's own data folder]",
)
@click.option(
    "--weights",
    type=click.Choice(WEIGHTS),
    default=None,
    help="best: the best validation epoch (best.npz); last: the final epoch (checkpoint.npz) "
    "[default: the model the run stands for: best when it had a validation split, else last]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also write the metrics to this JSON file",
)
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
@click.option(
    "--strict", is_flag=True, help="make unreadable images an error (every one is listed) instead of skipping them"
)
def evaluate_command(run_dir, data_dir, weights, out, as_json, strict):
    """Score a saved model of RUN_DIR with the run's metrics.

    On the run's own data folder only its test images are scored, reproducing its metrics.json
    exactly; on another folder (an external site, say) every image of each task's dataset is scored.
    """
    try:
        run = open_saved_run(run_dir, weights)
        run.weights_files()  # a missing model is named before the images load
        collection = load_run_data(
            data_dir or run.data_dir,
            run.config.image_size,
            run.config.decode_crop,
            strict,
            progress=False,
            synthetic=run.synthetic and data_dir is None,
        )
        metrics = evaluate_saved_run(run, collection)
    except CheckpointError as error:
        raise click.ClickException(f"{error}; this model cannot be scored (resume or train the run again)") from None
    except USER_ERRORS as error:
        raise click.ClickException(str(error)) from None
    if out is not None:
        write_json(out, metrics)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    click.echo(
        f"{run.config.arch} from {run_dir}, the model of the {SAVED_MODELS[metrics['weights']][1]} "
        f"({metrics['weights']}), scored on "
        f"{metrics['scope']}" + (" (SYNTHETIC phantoms)" if metrics["synthetic"] else "")
    )
    click.echo(metrics_table(metrics["tasks"]))
