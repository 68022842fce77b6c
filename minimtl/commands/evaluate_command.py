"""``python cli.py evaluate RUN_DIR``: score a saved model, on its own test images or another site."""

import json
from pathlib import Path

import click

from minimtl.commands.options import load_run_data
from minimtl.common.atomic import write_json
from minimtl.study.report import metrics_table
from minimtl.study.run import evaluate_saved_run, read_config


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="images to score [default: the run's own data folder]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also write the metrics to this JSON file",
)
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
@click.option("--strict", is_flag=True, help="stop at the first unreadable image instead of skipping it")
def evaluate_command(run_dir, data_dir, out, as_json, strict):
    """Score the final model of RUN_DIR with the run's metrics.

    On the run's own data folder only its test images are scored, reproducing its metrics.json
    exactly; on another folder (an external site, say) every image of each task's dataset is scored.
    """
    try:
        config, stored = read_config(run_dir)
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise click.ClickException(f"cannot read the run in {run_dir}: {error}") from None
    folder = data_dir or stored["data"]["data_dir"] or None
    collection = load_run_data(
        folder,
        config.image_size,
        config.crop,
        strict,
        progress=False,
        synthetic=stored["data"]["synthetic"] and data_dir is None,
    )
    metrics = evaluate_saved_run(run_dir, collection)
    if out is not None:
        write_json(out, metrics)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    click.echo(
        f"{config.arch} from {run_dir}, scored on {metrics['scope']}"
        + (" (SYNTHETIC phantoms)" if metrics["synthetic"] else "")
    )
    click.echo(metrics_table(metrics["tasks"]))
