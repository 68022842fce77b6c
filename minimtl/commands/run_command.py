"""``python cli.py run``: train one architecture and write its run folder.

Every way a run can end leaves either finished outputs or a folder that ``--resume`` accepts; every
problem the user can act on is one or two lines naming the file or option, never a traceback.
"""

import sys
import time
from pathlib import Path

import click

from minimtl.commands.options import (
    USER_ERRORS,
    FiniteFloat,
    SuggestingChoice,
    announce_data,
    check_writable,
    click_progress,
    data_options,
    disk_line,
    echo_err,
    load_run_data,
    memory_line,
    method_options,
    training_options,
    write_error_message,
)
from minimtl.common.run_folder import SAVED_MODELS
from minimtl.data import SPLIT_METHODS
from minimtl.study.run.saved_run import open_saved_run
from minimtl.study.run.write import train_and_report
from minimtl.training.checkpoint import CheckpointError
from minimtl.training.config import RunConfig
from minimtl.training.measured import HOURS_30_EPOCHS_256PX, MACHINE, MAIN_JOB
from minimtl.training.memory import STUDY_IMAGES, GiB, estimate_run_memory
from minimtl.training.models import ARCHITECTURES, HEADS, check_arch_and_head
from minimtl.training.multitask_update import check_method_options, readable_if_needed
from minimtl.training.tasks import OTHER_LABEL_POLICIES
from minimtl.training.train import TrainingInterrupted

DEFAULTS = RunConfig()


def _hours():
    return ", ".join(f"{hours:g} h ({arch})" for arch, hours in HOURS_30_EPOCHS_256PX.items())


def _minutes(seconds):
    return f"{seconds // 60} min {seconds % 60} s"


def _study_memory():
    return f"{estimate_run_memory(DEFAULTS, STUDY_IMAGES)['total'] / GiB:.1f} GiB"


HELP = f"""Train one architecture (the study's protocol by default) and write runs/NAME/.

The defaults follow the study's protocol ({DEFAULTS.image_size} px, batch {DEFAULTS.batch_size},
{DEFAULTS.epochs} epochs, Adam lr {DEFAULTS.lr}, random image-level split) with two differences:
{DEFAULTS.val_fraction:.0%} of the training side is held out for validation (--val-fraction 0: none,
as the study, which kept the last epoch), so each task is scored by its own best validation epoch
(--selection), and the seed is fixed ({DEFAULTS.seed}).

30 epochs at 256 px take about {_hours()}, extrapolated from steps measured on {MACHINE}
(docs/performance.md; loading and checkpoints not included); the README's main job (64 px, 10 epochs)
ran in {_minutes(MAIN_JOB["run_seconds"])}. At 256 px a multitask64 run needs about {_study_memory()} of
memory by the run's own estimate (with Adam's state and the study's {STUDY_IMAGES} images). The run
prints that estimate first and refuses a run that cannot fit, then says how big its checkpoints and
best-epoch files are.

Without --data-dir, $MINIMTL_DATA or images in data/, the run uses synthetic phantoms and says so on
its first line; --phantoms asks for them.
"""


@click.command("run", help=HELP)
@click.option("--arch", type=SuggestingChoice(list(ARCHITECTURES)), default=DEFAULTS.arch, show_default=True)
@click.option(
    "--head",
    type=click.Choice(HEADS),
    default=DEFAULTS.head,
    show_default=True,
    help="two-logit softmax heads (the study) or one-logit sigmoid heads",
)
@click.option(
    "--other-labels",
    type=click.Choice(OTHER_LABEL_POLICIES),
    default=DEFAULTS.other_labels,
    show_default=True,
    help="multi-task: the other dataset's images count as negatives, or are masked out",
)
@training_options
@method_options
@click.option(
    "--split",
    "split_method",
    type=click.Choice(SPLIT_METHODS),
    default=DEFAULTS.split,
    show_default=True,
    help="random = the study's image-level split; patient = grouped by patient "
    "(recommended); official = Kermany's own train/test",
)
@click.option(
    "--val-fraction",
    type=FiniteFloat(0, 0.9),
    default=DEFAULTS.val_fraction,
    show_default=True,
    help="part of the training side held out for validation (0: none, as the study)",
)
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
@data_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="folder that receives the run folder",
)
@click.option("--name", default=None, help="run folder name [default: ARCH-SIZEpx-SPLIT-seedSEED-TIME]")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="continue a run from its folder with its own options (one stopped before its first checkpoint "
    "starts again from the beginning)",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar per epoch")
def run_command(
    arch, head, other_labels, epochs, batch_size, lr, patience, selection, step, normalize, crop_borders, augment,
    split_method, val_fraction, seed, data_dir, phantoms, image_size, crop, strict, out, name, resume_dir, progress,
    **methods,
):  # fmt: skip
    try:
        if resume_dir is not None:
            if phantoms:
                raise click.UsageError("--phantoms does not go with --resume: a run resumes on its own images")
            saved = open_saved_run(resume_dir)
            config, run_dir, synthetic = saved.config, resume_dir, saved.synthetic and data_dir is None
            data_dir = data_dir or saved.data_dir
            if not synthetic:
                announce_data(data_dir)
        else:
            config = RunConfig(
                arch=arch, head=head, other_labels=other_labels, image_size=image_size, crop=crop,
                batch_size=batch_size, epochs=epochs, lr=lr, split=split_method, val_fraction=val_fraction,
                seed=seed, step=step, patience=patience, normalize=normalize, crop_borders=crop_borders,
                augment=augment, selection=selection, **methods,
            )  # fmt: skip
            config, readable_note = readable_if_needed(config)
            try:
                check_arch_and_head(config.arch, config.head, config.other_labels)
                check_method_options(config)
            except ValueError as error:
                raise click.UsageError(str(error)) from None
            if readable_note:
                echo_err(readable_note)
            name = name or f"{arch}-{image_size}px-{split_method}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
            run_dir = out / name
            if (run_dir / "config.json").exists():
                raise click.UsageError(
                    f"{run_dir} already holds a run; pick another --name, or continue it with --resume {run_dir}"
                )
            check_writable(run_dir)
            synthetic = announce_data(data_dir, phantoms)  # the first lines: what the run trains on
        echo_err(memory_line(config, data_dir, synthetic))
        echo_err(disk_line(config, run_dir))
        collection = load_run_data(
            data_dir, config.image_size, config.decode_crop, strict, progress, synthetic=synthetic
        )
        metrics = train_and_report(
            config,
            collection,
            run_dir,
            resume=resume_dir is not None,
            progress=click_progress if progress else None,
            log=echo_err,
        )
    except TrainingInterrupted as stop:
        echo_err(f"\n{stop}. Saved. Continue with:\n  python cli.py run --resume {run_dir}")
        sys.exit(130)
    except CheckpointError as error:
        raise click.ClickException(
            f"{error}. To train this run again from the start (same seed, same result), delete that file and "
            f"run: python cli.py run --resume {run_dir}"
        ) from None
    except USER_ERRORS as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # a full disk, a folder made read-only meanwhile, ...
        raise click.ClickException(write_error_message(error, run_dir)) from None
    click.echo(f"wrote {run_dir}/ (report.md, metrics.json, history.csv, plots)")
    click.echo(f"the model of the {SAVED_MODELS[metrics['weights']][1]} on the test images:")
    saved = open_saved_run(run_dir)
    for task, m in saved.task_metrics().items():
        auc = m["roc_auc"]["value"]
        click.echo(
            f"  {task} (epoch {saved.epoch_for(task)}): precision {_pct(m['precision'])}  recall {_pct(m['recall'])}  "
            f"ROC-AUC {'n/a' if auc is None else f'{auc:.3f}'}" + ("  [SYNTHETIC]" if metrics["synthetic"] else "")
        )


def _pct(rate):
    return "n/a" if rate["value"] is None else f"{100 * rate['value']:.1f}%"
