"""A new user's first hour (issue 24): no silent substitutes, no surprises between the README and the run.
One test (or a few) per item of the issue."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import minimtl.study.run as run_module
from minimtl.commands import main
from minimtl.commands.options import click_progress, echo_err
from minimtl.common.lock import LOCK_NAME
from minimtl.data import make_phantoms
from minimtl.study.run import train_and_report
from minimtl.training.config import RunConfig
from minimtl.training.metrics import half_dead_warning, largest_score_tie

TINY = RunConfig(arch="single-tb", image_size=12, epochs=2, split="patient")


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=30, image_size=12, seed=0)


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ----- item 5: small things ----------------------------------------------------------------------------


def test_without_a_terminal_each_epoch_is_one_line(tmp_path, phantoms, capsys):
    """The commands' progress bars (click_progress) on a stderr that is not a terminal (a log file, a pipe,
    CliRunner): click would print each bar's bare label ("epoch 1/2") above the epoch's own line."""
    train_and_report(TINY, phantoms, tmp_path / "run", progress=click_progress, log=echo_err)
    lines = capsys.readouterr().err.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == TINY.epochs, lines
    assert all("train loss" in line for line in epoch_lines), epoch_lines


def test_a_run_that_finished_leaves_no_lock_file(tmp_path, phantoms):
    train_and_report(TINY, phantoms, tmp_path / "run", log=lambda line: None)
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_run_that_stopped_with_an_error_leaves_no_lock_file_either(tmp_path, phantoms, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "write_predictions", fail)
    with pytest.raises(OSError):
        train_and_report(TINY, phantoms, tmp_path / "run", log=lambda line: None)
    assert (tmp_path / "run" / "checkpoint.npz").is_file() and not (tmp_path / "run" / LOCK_NAME).exists()


@pytest.mark.parametrize(("typed", "meant"), [("multitask", "multitask64"), ("singel-tb", "single-tb"),
                                              ("MULTICLASS", "multiclass")])  # fmt: skip
def test_a_mistyped_arch_suggests_the_nearest_name(typed, meant):
    result = cli("run", "--arch", typed)
    assert result.exit_code == 2
    assert "Invalid value for '--arch'" in result.output and f"Did you mean '{meant}'?" in result.output


def test_an_arch_like_no_name_suggests_nothing():
    result = cli("run", "--arch", "resnet")
    assert result.exit_code == 2 and "is not one of" in result.output and "Did you mean" not in result.output


def test_the_largest_score_tie_counts_different_images_and_leaves_out_saturated_scores():
    score = np.array([0.25, 0.25, 0.25, 0.25, 0.7, 0.8, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    hashes = np.array(["a", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"])  # "a" twice: one image, copied
    assert largest_score_tie(score, hashes) == (3, 0.25)
    assert largest_score_tie(np.linspace(0.1, 0.9, 9), np.arange(9)) == (0, None)
    assert half_dead_warning("tb", np.linspace(0.1, 0.9, 9), np.arange(9), "last epoch") is None


def test_report_md_flags_a_half_dead_head(tmp_path, phantoms, monkeypatch):
    """29 of 132 TB test scores identical (a head whose hidden units are all off for those images, so its
    output is its bias): explain.md noticed, report.md did not. Here half the test images get one score,
    as a half-dead head gives them."""
    real = run_module.score_test_images

    def half_dead(model, config, collection, test_index):
        results, extra = real(model, config, collection, test_index)
        for result in results.values():
            result["score"] = result["score"].copy()
            result["score"][::2] = 0.4123  # every second image: the head's bias alone
        return results, extra

    monkeypatch.setattr(run_module, "score_test_images", half_dead)
    train_and_report(TINY, phantoms, tmp_path / "run", log=lambda line: None)
    report = (tmp_path / "run" / "report.md").read_text()
    warnings = json.loads((tmp_path / "run" / "metrics.json").read_text())["warnings"]
    flagged = [w for w in warnings if "half-dead head" in w]
    assert len(flagged) == 1 and flagged[0] in report
    assert "P(tb) = 0.412300" in flagged[0] and "every hidden unit of the head is off" in flagged[0]


def test_report_md_does_not_flag_a_head_without_ties(tmp_path, phantoms):
    train_and_report(TINY, phantoms, tmp_path / "run", log=lambda line: None)
    assert "half-dead" not in (tmp_path / "run" / "report.md").read_text()
