"""``python cli.py evaluate RUN_DIR``: score a saved model, on its own test images or another site."""

import json
from contextlib import contextmanager
from pathlib import Path

import click

from minimtl.commands.options import USER_ERRORS, echo_err, load_run_data
from minimtl.common.atomic import write_json
from minimtl.common.run_folder import SAVED_MODELS
from minimtl.data.external import is_external_tb_set, load_external
from minimtl.study.run.external import EXTERNAL_TASK, check_tb_head, score_on_external
from minimtl.study.run.report import metrics_table, multiclass_lines
from minimtl.study.run.saved_run import WEIGHTS, evaluate_saved_run, open_saved_run
from minimtl.training.checkpoint import CheckpointError


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="images to score [default: the run's own data folder]; an external TB set "
    "(<root>/<site>/{normal,tb}/) is scored per site and pooled, and kept in RUN_DIR/external/",
)
@click.option(
    "--weights",
    type=click.Choice(WEIGHTS),
    default=None,
    help="best: the best validation epoch (each task's own, best-<task>.npz, with per-task selection; best.npz "
    "with summed); last: the final epoch (checkpoint.npz) [default: the model the run stands for: best when it "
    "had a validation split, else last]",
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
    exactly. An external TB set (<root>/<site>/{normal,tb}/, e.g. ../shared/external/india) scores the
    run's TB head on every image, per site and pooled, with how well P(TB) tells the run's own healthy
    adults from each site's (when the run's own images are at hand); the result and each image's score
    are kept in RUN_DIR/external/. External sites score finished models only: choose nothing by them.
    On another folder every image of each task's dataset is scored.
    """
    if data_dir is not None and is_external_tb_set(data_dir):
        _evaluate_external(run_dir, data_dir, weights, out, as_json, strict)
        return
    with _scoring_errors():
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
    if _written(metrics, out, as_json):
        return
    click.echo(
        f"{run.config.arch} from {run_dir}, the model of the {SAVED_MODELS[metrics['weights']][1]} "
        f"({metrics['weights']}), scored on "
        f"{metrics['scope']}" + (" (SYNTHETIC phantoms)" if metrics["synthetic"] else "")
    )
    click.echo(metrics_table(metrics["tasks"]))
    if "multiclass" in metrics:
        click.echo("\n".join(multiclass_lines(metrics["multiclass"])))


def _evaluate_external(run_dir, data_dir, weights, out, as_json, strict):
    """``evaluate`` on an external TB set: the TB head per site and pooled, and the adult site probe."""
    with _scoring_errors():
        run = open_saved_run(run_dir, weights)
        run.metrics  # noqa: B018  (an external site scores finished runs only: RunError otherwise)
        check_tb_head(run)  # before the images load
        run.weights_file_for(EXTERNAL_TASK)  # a missing model is named before the images load
        external = load_external(data_dir, run.config.image_size, run.config.decode_crop, strict)
        own = _own_images(run, strict)
        document, _ = score_on_external(run, external, own, log=echo_err)
    if _written(document, out, as_json):
        return
    click.echo(_external_text(run, document))


@contextmanager
def _scoring_errors():
    """A damaged model or a user's mistake while a run is opened and scored, as one click message."""
    try:
        yield
    except CheckpointError as error:
        raise click.ClickException(f"{error}; this model cannot be scored (resume or train the run again)") from None
    except USER_ERRORS as error:
        raise click.ClickException(str(error)) from None


def _written(document, out, as_json):
    """Write ``document`` to --out if given, and print it as JSON with --json; True when it was printed."""
    if out is not None:
        write_json(out, document)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    return as_json


def _own_images(run, strict):
    """The run's own images for the adult site probe, when they are at hand (else None, with a note)."""
    if not run.synthetic and not (run.data_dir and Path(run.data_dir).is_dir()):
        echo_err(f"the run's own images ({run.trained_on()}) are not at hand: no adult site probe")
        return None
    own = load_run_data(
        run.data_dir, run.config.image_size, run.config.decode_crop, strict, progress=False, synthetic=run.synthetic
    )
    if not run.same_data(own):
        echo_err(f"{run.data_dir} no longer holds the run's own images: no adult site probe")
        return None
    return own


def _external_text(run, document):
    """What evaluate prints for an external set: per site and pooled metrics, then the adult site probe."""
    task = EXTERNAL_TASK
    result = document["tasks"][task]
    columns = {**{f"{site}": m for site, m in result["sites"].items()}, "pooled": result["pooled"]}
    counts = ", ".join(f"{site} {n['normal']} normal / {n['tb']} TB" for site, n in document["images"].items())
    lines = [
        f"{run.config.arch} from {run.folder}, its TB model ({SAVED_MODELS[document['weights']][1]}, epoch "
        f"{document['epoch']}), scored on the external set {document['set']} ({counts})"
        + (" [run trained on SYNTHETIC phantoms]" if document["synthetic_run"] else ""),
        "External images score finished models only: choose no epoch, option or variant by these numbers.",
        "",
        metrics_table(columns),
        "",
        "Report each site's ROC-AUC; the pooled one (beside them only) partly measures the machine and the format.",
    ]
    if document.get("collapsed"):
        # the verdict's images: validation, or training for a run without validation (metrics.json "collapse")
        decided_on = run.metrics.get("collapse", {}).get(task, {}).get("decided_on", "validation")
        lines.append(f"The TB head collapsed (decided on its {decided_on} images before the test): a constant head.")
    probe = document.get("adult_site")
    if probe:
        cells = [
            f"{site} {_probe_text(entry)}" for site, entry in [*probe["sites"].items(), ("pooled", probe["pooled"])]
        ]
        lines += [
            "",
            "Adult site probe: how well P(TB) tells the run's own healthy test adults "
            f"({', '.join(probe['own_images'])}) from each site's healthy images, max(AUC, 1 - AUC) "
            "[95% interval] (0.5: it does not know the hospital): " + "; ".join(cells),
        ]
    if document.get("skipped"):
        lines.append(f"{len(document['skipped'])} unreadable image(s) skipped: {document['skipped'][0][0]} ...")
    return "\n".join(lines)


def _probe_text(entry):
    """'0.712 [0.630, 0.794]': the separation and its interval (the AUC's, turned round when AUC < 0.5)."""
    if entry["separation"] is None:
        return "n/a"
    low, high = entry["ci95"] if entry["auc"] >= 0.5 else (1 - entry["ci95"][1], 1 - entry["ci95"][0])
    return f"{entry['separation']:.3f} [{low:.3f}, {high:.3f}]"
