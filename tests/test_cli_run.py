"""``cli.py run`` and ``cli.py evaluate`` end to end, on phantoms (no real images needed)."""

import csv
import json

import pytest
from click.testing import CliRunner

from minimtl.commands import main
from minimtl.commands.options import load_run_data
from minimtl.data import make_phantoms
from minimtl.study.run.saved_run import evaluate_saved_run, open_saved_run
from minimtl.training.evaluation import score_images
from minimtl.training.models import ARCHITECTURES

RATE_KEYS = {"precision", "recall", "specificity", "npv", "accuracy"}


def run_cli(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


def run_args(out, name, arch="single-tb", size=12, epochs=1, *options):
    """The arguments of a tiny ``run`` on the phantoms (``options`` are appended as they are)."""
    return ["run", "--arch", arch, "--epochs", str(epochs), "--image-size", str(size), *options,
            "--phantoms", "--out", str(out), "--name", name, "--no-progress"]  # fmt: skip


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_trains_one_epoch_and_writes_its_outputs(arch, tmp_path):
    result = run_cli(run_args(tmp_path / "runs", "r", arch, 16, 1, "--split", "patient"))
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    run_dir = tmp_path / "runs" / "r"
    for name in (
        "config.json",
        "split.json",
        "checkpoint.npz",
        "history.csv",
        "metrics.json",
        "report.md",
        "predictions.csv",
        "loss.png",
        "roc.png",
        "confusion.png",
    ):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["tasks"]) == set(ARCHITECTURES[arch].tasks)
    for m in metrics["tasks"].values():
        assert RATE_KEYS <= set(m) and "roc_auc" in m and "f1" in m
        assert m["positives"] + m["negatives"] == m["n"] > 0
        assert sum(map(sum, m["confusion_matrix"])) == m["n"]
    if arch == "multiclass":
        assert len(metrics["multiclass"]["confusion_matrix"]) == 3
    assert metrics["synthetic"] is True
    assert "SYNTHETIC" in (run_dir / "report.md").read_text()
    with open(run_dir / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and float(rows[0]["train_loss"]) > 0 and "val_loss" in rows[0]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["options"]["arch"] == arch and "numpy" in config["versions"]

    # evaluate on the run's own data reproduces its test metrics exactly
    evaluated = run_cli(["evaluate", str(run_dir), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["tasks"] == metrics["tasks"]


def test_evaluate_names_the_model_of_each_3_class_matrix(tmp_path):
    """A multiclass run with per-task selection stands for two models (TB's best epoch, pneumonia's). The
    3x3 matrix over every test image is one model's, so evaluate gives the matrix of each task's model and
    names its epoch and file; it gave one matrix, of whichever model it happened to score last."""
    options = ("--lr", "0.02", "--seed", "0", "--split", "patient")  # here TB's best epoch is not pneumonia's
    assert run_cli(run_args(tmp_path, "mc", "multiclass", 12, 4, *options)).exit_code == 0
    run = open_saved_run(tmp_path / "mc")
    epochs = {task: run.epoch_for(task) for task in ("tb", "pneumonia")}
    assert epochs["tb"] != epochs["pneumonia"], f"the case in question needs two models, got epochs {epochs}"
    collection = load_run_data(None, 12, "stretch", False, False, synthetic=True)
    index = run.split(collection).test
    expected = {task: score_images(run.model_for(task), run.config, collection, index)[1] for task in epochs}
    assert expected["tb"] != expected["pneumonia"]  # else the two models' matrices could not be told apart

    evaluated = run_cli(["evaluate", str(tmp_path / "mc"), "--json"])
    by_task = json.loads(evaluated.output)["multiclass"]["by_task"]
    for task, epoch in epochs.items():
        assert by_task[task] == {
            "weights": "best",
            "file": f"best-{task}.npz",
            "epoch": epoch,
            "confusion_matrix": expected[task]["multiclass"]["confusion_matrix"],
        }
    text = run_cli(["evaluate", str(tmp_path / "mc")]).output
    for task, epoch in epochs.items():
        assert f"3-class confusion matrix of the epoch-{epoch} model (`best-{task}.npz`, which scores {task})" in text
    last = json.loads(run_cli(["evaluate", str(tmp_path / "mc"), "--weights", "last", "--json"]).output)
    assert {entry["file"] for entry in last["multiclass"]["by_task"].values()} == {"checkpoint.npz"}
    assert last["multiclass"]["by_task"]["tb"]["confusion_matrix"] == run.metrics["multiclass"]["confusion_matrix"]


def test_sigmoid_heads_and_ignored_other_labels(tmp_path):
    options = ("--head", "sigmoid", "--other-labels", "ignore")
    result = run_cli(run_args(tmp_path, "s", "multitask32", 12, 1, *options))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s" / "config.json").read_text())["options"]["head"] == "sigmoid"


def test_bad_options_name_the_option(tmp_path):
    result = CliRunner().invoke(
        main, ["run", "--arch", "multiclass", "--head", "sigmoid", "--phantoms", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0 and "--head sigmoid" in result.output
    result = CliRunner().invoke(main, ["run", "--arch", "resnet"])
    assert result.exit_code != 0 and "--arch" in result.output
    result = CliRunner().invoke(main, ["run", "--data-dir", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "--data-dir" in result.output


def test_an_existing_run_is_not_overwritten(tmp_path):
    args = run_args(tmp_path, "same")
    assert run_cli(args).exit_code == 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--resume" in again.output


def test_evaluate_on_other_images_scores_every_image_of_the_task(tmp_path):
    assert run_cli(run_args(tmp_path, "e")).exit_code == 0
    other_site = make_phantoms(n_per_class=9, image_size=12, seed=9)  # not the run's images
    metrics = evaluate_saved_run(open_saved_run(tmp_path / "e"), other_site)
    assert metrics["scope"].startswith("every image")
    assert metrics["tasks"]["tb"]["n"] == int((other_site.dataset == "tb").sum())
    assert set(metrics["tasks"]) == {"tb"}


def test_evaluate_scores_the_model_the_run_stands_for_unless_told(tmp_path):
    """With a validation split the run stands for its best validation epoch (best.npz): evaluate scores
    it by default, as compare does; --weights last scores the final epoch; each says which."""
    assert run_cli(run_args(tmp_path, "w", "single-tb", 12, 3, "--split", "patient")).exit_code == 0
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert metrics["weights"] == "best"
    default = run_cli(["evaluate", str(tmp_path / "w"), "--json"])
    assert json.loads(default.output)["weights"] == "best"
    assert json.loads(default.output)["tasks"] == metrics["best_val"]["tasks"]
    last = run_cli(["evaluate", str(tmp_path / "w"), "--weights", "last", "--json"])
    assert json.loads(last.output)["tasks"] == metrics["tasks"]
    text = run_cli(["evaluate", str(tmp_path / "w")]).output
    assert "the model of the best validation epoch (best)" in text


def test_a_lost_task_model_is_named_with_that_tasks_own_best_epoch(tmp_path):
    """With per-task selection best-<task>.npz holds the task's own best validation epoch; when it is lost,
    the message quotes that epoch, not the epoch of the best summed validation loss (best_val's)."""
    assert run_cli(run_args(tmp_path, "mt", "multitask64", 12, 6, "--split", "patient")).exit_code == 0
    best = json.loads((tmp_path / "mt" / "metrics.json").read_text())["best_val"]
    differing = [task for task, epoch in best["task_epochs"].items() if epoch != best["epoch"]]
    assert differing, best  # these phantoms: a task whose own best epoch is not the summed loss's
    task = differing[0]
    (tmp_path / "mt" / f"best-{task}.npz").unlink()
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "mt")])
    assert result.exit_code != 0, result.output
    expected = f"stands for the model of its best validation epoch ({best['task_epochs'][task]}), but best-{task}.npz"
    assert expected in result.output


def test_a_run_that_lost_its_best_model_says_so_and_stops(tmp_path):
    """A run with a validation split stands for its best epoch (report.md says so). Without best-tb.npz,
    evaluate and explain must not score the last epoch in its place: they stop, naming the missing file
    and the way on (--weights last), which still works; --weights best names the same cause, not a
    missing validation split. A run without a validation split says that it had none."""
    assert run_cli(run_args(tmp_path, "lost", "single-tb", 12, 2, "--split", "patient")).exit_code == 0
    (tmp_path / "lost" / "best-tb.npz").unlink()  # per-task selection: the TB task's own best epoch
    for command in (["evaluate"], ["explain", "--images", "1"], ["explain", "--images", "1", "--weights", "best"]):
        result = CliRunner().invoke(main, [command[0], str(tmp_path / "lost"), *command[1:]])
        assert result.exit_code != 0, result.output
        assert "stands for the model of its best validation epoch" in result.output
        assert "best-tb.npz, which holds it, is missing" in result.output and "--weights last" in result.output
        assert "no validation split" not in result.output and "last epoch (last)" not in result.output
    last = CliRunner().invoke(main, ["evaluate", str(tmp_path / "lost"), "--weights", "last"])
    assert last.exit_code == 0 and "the model of the last epoch (last)" in last.output
    assert run_cli(run_args(tmp_path, "noval", "single-tb", 12, 1, "--val-fraction", "0")).exit_code == 0
    no_validation = CliRunner().invoke(main, ["explain", str(tmp_path / "noval"), "--weights", "best"])
    assert no_validation.exit_code != 0 and "had no validation split (--val-fraction 0)" in no_validation.output
