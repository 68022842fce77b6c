"""A new user's first hour (issue 24): no silent substitutes, no surprises between the README and the run.
One test (or a few) per item of the issue."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import minimtl.data.load as load_module
import minimtl.study.run.saved_run as saved_run_module
import minimtl.study.run.write as run_module
from minimtl.commands import main
from minimtl.commands.options import click_progress, echo_err
from minimtl.common.lock import LOCK_NAME
from minimtl.data import make_phantoms
from minimtl.study.run.write import train_and_report
from minimtl.training.config import RunConfig
from minimtl.training.memory import GB, estimate_run_disk, format_disk
from minimtl.training.metrics import half_dead_warning, largest_score_tie
from tests.data_fixtures import build_generic, build_kermany, build_nlm, write_image

TINY = RunConfig(arch="single-tb", image_size=12, epochs=2, split="patient")


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=30, image_size=12, seed=0)


RUN = ["run", "--arch", "single-tb", "--image-size", "12", "--epochs", "1", "--split", "patient", "--no-progress"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture()
def nothing_named(tmp_path, monkeypatch):
    """No --data-dir, no $MINIMTL_DATA, and data/ in the repository missing: the one case for phantoms."""
    monkeypatch.delenv("MINIMTL_DATA", raising=False)
    monkeypatch.setattr(load_module, "DEFAULT_DATA_DIR", tmp_path / "repository-data")
    monkeypatch.setenv("MINIMTL_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images here")
    return folder


def error_of(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output[result.output.rindex("Error: ") :]


# ----- item 2: an explicit data folder without images is an error, not phantoms ---------------------------


@pytest.mark.parametrize("strict", [[], ["--strict"]])
def test_run_on_an_explicit_empty_data_dir_is_an_error_naming_it(tmp_path, empty, strict):
    result = cli(*RUN, "--data-dir", empty, "--out", tmp_path / "runs", "--name", "r", *strict)
    message = error_of(result)
    assert f"{empty}, the data folder named by --data-dir, holds no .png/.jpg/.jpeg file" in message
    assert "chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg" in message and "--phantoms" in message
    assert "SYNTHETIC" not in result.output and "Using synthetic phantoms" not in result.output
    assert not (tmp_path / "runs" / "r" / "config.json").exists()  # nothing trained


def test_data_on_an_explicit_empty_data_dir_is_an_error_too(empty):
    message = error_of(cli("data", "--data-dir", empty))
    assert f"{empty}, the data folder named by --data-dir, holds no" in message


@pytest.mark.parametrize("exists", [True, False])
def test_a_data_folder_named_by_the_environment_is_named_too(tmp_path, empty, monkeypatch, exists):
    folder = empty if exists else tmp_path / "absent"
    monkeypatch.setenv("MINIMTL_DATA", str(folder))
    message = error_of(cli(*RUN, "--out", tmp_path / "runs", "--name", "r"))
    what = "holds no .png/.jpg/.jpeg file" if exists else "does not exist"
    assert f"{folder}, the data folder named by $MINIMTL_DATA, {what}" in message


def test_with_nothing_named_the_phantoms_notice_is_the_first_line(tmp_path, nothing_named):
    result = cli(*RUN, "--out", tmp_path / "runs", "--name", "r")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("No chest X-ray images found in ") and "synthetic phantoms" in lines[0]
    assert lines[1].startswith("memory: about") and lines[2].startswith("disk: checkpoint.npz")


def test_phantoms_asked_for_and_the_checkpoint_size_said_before_training(tmp_path):
    result = cli(*RUN, "--phantoms", "--out", tmp_path / "runs", "--name", "r")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Using the built-in synthetic phantoms (--phantoms)")
    size = estimate_run_disk(RunConfig(arch="single-tb", image_size=12, epochs=1, split="patient"))["checkpoint"]
    assert lines[2].startswith(f"disk: checkpoint.npz {size / GB:.2g} GB, rewritten after every epoch")
    checkpoint = (tmp_path / "runs" / "r" / "checkpoint.npz").stat().st_size
    assert 0.9 * size < checkpoint < 1.1 * size + 100_000  # the estimate is the file's size (plus the small state)


@pytest.mark.parametrize(
    ("selection", "files"), [("per-task", ("best-tb.npz", "best-pneumonia.npz")), ("summed", ("best.npz",))]
)
def test_the_disk_line_names_the_best_epochs_files_each_selection_writes(tmp_path, selection, files):
    """Per-task selection keeps one best model per task: the disk line names each file and the peak counts
    them all; each file is the size the estimate says (the weights alone)."""
    run = ["run", "--arch", "multitask64", "--image-size", "12", "--epochs", "1", "--split", "patient"]
    result = cli(*run, "--selection", selection, "--phantoms", "--no-progress", "--out", tmp_path, "--name", "r")
    assert result.exit_code == 0, result.output
    parts = estimate_run_disk(
        RunConfig(arch="multitask64", image_size=12, epochs=1, split="patient", selection=selection)
    )
    assert parts["best_files"] == files
    assert parts["peak"] == 2 * parts["checkpoint"] + len(files) * parts["best"]
    each = " each" if len(files) > 1 else ""
    line = result.stderr.splitlines()[2]
    assert f", {' and '.join(files)} {parts['best'] / GB:.2g} GB{each} (up to {parts['peak'] / GB:.2g} GB" in line
    written = sorted(path.name for path in (tmp_path / "r").glob("best*.npz"))
    assert written == sorted(files)
    for name in files:
        assert 0.9 * parts["best"] < (tmp_path / "r" / name).stat().st_size < 1.1 * parts["best"] + 100_000


def test_a_run_without_validation_writes_and_announces_no_best_file(tmp_path):
    parts = estimate_run_disk(RunConfig(arch="multitask64", image_size=12, val_fraction=0))
    assert parts["best_files"] == () and parts["best"] == 0 and parts["peak"] == 2 * parts["checkpoint"]
    assert "best" not in format_disk(parts)


def test_phantoms_and_a_data_dir_exclude_each_other(tmp_path, empty):
    result = cli(*RUN, "--phantoms", "--data-dir", empty, "--out", tmp_path)
    assert result.exit_code == 2 and "--phantoms and --data-dir exclude each other" in result.output


# ----- item 3: only what is unambiguously the data set becomes training data ------------------------------


def test_two_different_files_with_one_nlm_name_are_a_conflict_naming_both(tmp_path):
    data = tmp_path / "data"
    build_nlm(data / "ChinaSet_AllFiles" / "CXR_png", "CHNCXR", labels=(0, 1, 0, 1))
    write_image(data / "tmp-copy" / "CHNCXR_0002_1.png")  # another picture under a real image's name
    for command in (["data"], [*RUN, "--out", tmp_path / "runs", "--name", "r"]):
        message = error_of(cli(*command, "--data-dir", data))
        assert "claimed by different files" in message and "NLM image CHNCXR_0002_1.png" in message
        assert "ChinaSet_AllFiles/CXR_png/CHNCXR_0002_1.png (" in message and "tmp-copy/CHNCXR_0002_1.png (" in message
        assert "will not choose" in message
    assert not (tmp_path / "runs" / "r" / "config.json").exists()


def test_a_copy_of_an_nlm_image_with_the_same_bytes_is_counted_once(tmp_path):
    data = tmp_path / "data"
    build_nlm(data / "CXR_png", "CHNCXR", labels=(0, 1, 0, 1))
    (data / "backup").mkdir()
    shutil.copy(data / "CXR_png" / "CHNCXR_0002_1.png", data / "backup" / "CHNCXR_0002_1.png")
    result = cli("data", "--data-dir", data, "--image-size", "12", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["datasets"]["tb"]["images"] == 4


def test_the_generic_layout_is_not_taken_where_other_images_lie_around(tmp_path):
    """A folder like /tmp: a few folders of pictures, and many more pictures deeper down."""
    data = tmp_path / "tmp"
    build_generic(data, {"plots": 2, "thumbnails": 2})
    write_image(data / "pytest-of-user" / "pytest-1" / "test_x" / "image.png")
    write_image(data / "loose.png")
    message = error_of(cli("data", "--data-dir", data))
    assert "The generic layout <root>/<class>/*.png is not taken" in message
    assert "classes (plots, thumbnails)" in message
    assert "2 image files lie elsewhere (1 above the class folders, 1 in other or deeper folders" in message
    assert "loose.png" in message and "pytest-of-user/pytest-1/test_x/image.png" in message


def test_the_generic_layout_is_taken_where_it_is_unambiguous(tmp_path):
    data = tmp_path / "external"
    build_generic(data / "da", {"normal": 2, "tb": 2})
    build_generic(data / "db", {"normal": 1, "tb": 1})
    (data / "MANIFEST.csv").write_text("path,label\n")
    result = cli("data", "--data-dir", data, "--image-size", "12", "--json")
    assert result.exit_code == 0, result.output
    assert {name: d["images"] for name, d in json.loads(result.stdout)["datasets"].items()} == {"da": 4, "db": 2}
    assert "generic layout (<class>/ folders): 6 images: da 4 (normal 2, tb 2); db 2 (normal 1, tb 1)" in result.stderr


def test_run_says_what_it_found_per_layout_before_it_starts(tmp_path):
    data = tmp_path / "data"
    build_kermany(data, splits=("train", "test"))
    build_nlm(data / "ChinaSet_AllFiles" / "CXR_png", "CHNCXR", labels=(0, 1) * 6)
    write_image(data / "notes" / "figure.png")  # in no layout: ignored, and said so
    result = cli(*RUN, "--data-dir", data, "--out", tmp_path / "runs", "--name", "r")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:4] == [
        f"images found in {data}:",
        "  kermany layout (chest_xray/<split>/<NORMAL|PNEUMONIA>/ files): 10 images: pneumonia 10 (normal 5, "
        "pneumonia 5; sites kermany 10)",
        "  nlm layout (CHNCXR_/MCUCXR_ files): 12 images: tb 12 (normal 6, tb 6; sites shenzhen 12)",
        "  ignored: 1 image files in none of these layouts (e.g. notes/figure.png)",
    ]
    assert lines[4].startswith("memory: about")


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
    assert half_dead_warning("tb", np.linspace(0.1, 0.9, 9), np.arange(9), "epoch-2 model (last epoch)") is None


def test_report_md_flags_a_half_dead_head(tmp_path, phantoms, monkeypatch):
    """29 of 132 TB test scores identical (a head whose hidden units are all off for those images, so its
    output is its bias): explain.md noticed, report.md did not. Here half the test images get one score,
    as a half-dead head gives them (to the final model's scores and to those read back from the chosen
    model's file, whichever stands for the run)."""
    real = run_module.score_images

    def half_dead(model, config, collection, test_index):
        results, extra = real(model, config, collection, test_index)
        for result in results.values():
            result["score"] = result["score"].copy()
            result["score"][::2] = 0.4123  # every second image: the head's bias alone
        return results, extra

    monkeypatch.setattr(run_module, "score_images", half_dead)
    monkeypatch.setattr(saved_run_module, "score_images", half_dead)
    train_and_report(TINY, phantoms, tmp_path / "run", log=lambda line: None)
    report = (tmp_path / "run" / "report.md").read_text()
    warnings = json.loads((tmp_path / "run" / "metrics.json").read_text())["warnings"]
    flagged = [w for w in warnings if "half-dead head" in w]
    assert len(flagged) == 1 and flagged[0] in report
    assert "P(tb) = 0.412300" in flagged[0] and "every hidden unit of the head is off" in flagged[0]


def test_report_md_does_not_flag_a_head_without_ties(tmp_path, phantoms):
    train_and_report(TINY, phantoms, tmp_path / "run", log=lambda line: None)
    assert "half-dead" not in (tmp_path / "run" / "report.md").read_text()
