"""No dead ends: every failure leaves a run that --resume (or a fresh run) accepts, every user error is a
short message naming the file or option, nothing is lost. One test per item of the issue that asked for it."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import minimtl.common.atomic as atomic_module
import minimtl.training.loop as loop_module
from minimtl.commands import main
from minimtl.common.atomic import TEMP_PREFIX, write_text
from minimtl.common.lock import claim
from minimtl.data import make_phantoms
from minimtl.study.run.write import train_and_report
from minimtl.training.config import RunConfig
from minimtl.training.memory import NotEnoughMemory, check_memory
from tests.data_fixtures import build_nlm, write_image

REPO = Path(__file__).resolve().parents[1]
TINY = ["--arch", "multitask32", "--image-size", "12", "--epochs", "3", "--split", "patient", "--no-progress"]


@pytest.fixture()
def no_data(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    return empty


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def short_message(result, limit=2):
    """A user error: non-zero exit, no traceback anywhere, and click's "Error: ..." at the end is at most
    ``limit`` lines of text with no bytes dumped. Returns that message."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    message = result.output[[m.start() for m in re.finditer(r"(?m)^Error: ", result.output)][-1] :]
    assert "\\x" not in message and len(message) < 1000, message
    assert 1 <= len(message.strip().splitlines()) <= limit, message
    return message


def weights(run_dir):
    with np.load(Path(run_dir) / "checkpoint.npz") as stored:
        return {key: stored[key].copy() for key in stored.files if key.startswith(("param/", "optim/"))}


def same_run(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    ma, mb = (json.loads((Path(d) / "metrics.json").read_text()) for d in (a, b))
    assert ma["tasks"] == mb["tasks"] and ma["best_val"] == mb["best_val"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run every interrupted one must end up equal to."""
    root = tmp_path_factory.mktemp("straight")
    (root / "no-data").mkdir()
    result = cli("run", *TINY, "--data-dir", root / "no-data", "--out", root, "--name", "run")
    assert result.exit_code == 0, result.output
    return root / "run"


# ----- dead ends ------------------------------------------------------------------------------------


def test_a_run_without_checkpoint_restarts_on_resume(tmp_path, no_data, straight, monkeypatch):
    """A NaN loss in epoch 1: the message promises no checkpoint; --resume trains it from the start."""

    def nan_loss(logits, targets):
        return float("nan"), {}, {}

    monkeypatch.setattr(loop_module, "total_loss", nan_loss)
    result = cli("run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "run")
    message = short_message(result)
    assert "No checkpoint was written" in message and "last good checkpoint" not in message
    assert "smaller --lr" in message
    monkeypatch.undo()
    refused = cli("run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "run")
    assert "--resume" in short_message(refused)  # the same name: continue it instead
    resumed = cli("run", "--resume", tmp_path / "run", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert "no checkpoint yet" in resumed.output and "training it again from the start" in resumed.output
    same_run(tmp_path / "run", straight)


KILL_SCRIPT = """
import os, signal, sys
import numpy as np
import minimtl.common.atomic as atomic
from minimtl.commands import main
calls, real = {"n": 0}, np.savez
def savez_then_die(handle, **arrays):  # the N-th archive dies half written, as kill -9 would leave it
    calls["n"] += 1
    if calls["n"] == int(sys.argv[1]):
        handle.write(b"PK" + b"x" * 5000)
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real(handle, **arrays)
atomic.np = type("numpy", (), {"savez": staticmethod(savez_then_die)})
main(sys.argv[2:])
"""


@pytest.mark.parametrize("write", [1, 2, 4])
def test_kill_inside_a_checkpoint_write_leaves_a_resumable_run(tmp_path, no_data, straight, write):
    """kill -9 while the 1st (the first checkpoint), 2nd or 4th archive is written: the temporary file
    is removed on resume and the run ends bit-identical to the uninterrupted one."""
    args = ["run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "run"]
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(write), *map(str, args)], cwd=REPO,
                            capture_output=True, text=True)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert list((tmp_path / "run").glob(TEMP_PREFIX + "*"))  # what a killed writer leaves
    resumed = cli("run", "--resume", tmp_path / "run", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert "temporary file" in resumed.output
    assert not list((tmp_path / "run").glob(TEMP_PREFIX + "*"))
    same_run(tmp_path / "run", straight)


def test_a_run_stopped_while_writing_its_report_is_not_finished(tmp_path, no_data, straight, monkeypatch):
    """metrics.json marks a run finished (compare reuses it, --resume stops at it): it is written after
    the plots and report.md, so a run killed among them is resumed and writes them all again."""
    import minimtl.study.run.write as run_module

    def disk_gone(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(run_module, "plot_roc", disk_gone)
    failed = cli("run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "run")
    assert failed.exit_code != 0
    assert (tmp_path / "run" / "checkpoint.npz").exists() and not (tmp_path / "run" / "metrics.json").exists()
    monkeypatch.undo()
    resumed = cli("run", "--resume", tmp_path / "run", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    for name in ("metrics.json", "report.md", "roc.png", "confusion.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert "`metrics.json`" in (tmp_path / "run" / "report.md").read_text()
    same_run(tmp_path / "run", straight)


def kill_loop(tmp_path, no_data, straight, cycles, seed):
    """Start, kill -9 at a random moment, resume (or start again without a config.json); repeat."""
    rng = np.random.default_rng(seed)
    run_dir = tmp_path / "run"
    fresh = [
        sys.executable,
        "cli.py",
        "run",
        *TINY,
        "--data-dir",
        str(no_data),
        "--out",
        str(tmp_path),
        "--name",
        "run",
    ]
    for _ in range(cycles):
        if (run_dir / "metrics.json").exists():
            break
        command = [sys.executable, "cli.py", "run", "--resume", str(run_dir), "--no-progress"]
        process = subprocess.Popen(command if (run_dir / "config.json").exists() else fresh, cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            process.wait(timeout=rng.uniform(0.5, 4.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
    if not (run_dir / "metrics.json").exists():  # finish it as a user would: resume, or start it again
        begun = (run_dir / "config.json").exists()
        final = cli("run", "--resume", run_dir, "--no-progress") if begun else cli(*fresh[2:])
        assert final.exit_code == 0, final.output
    assert not list(run_dir.glob(TEMP_PREFIX + "*"))
    same_run(run_dir, straight)


def test_kill_loop_ends_bit_identical(tmp_path, no_data, straight):
    kill_loop(tmp_path, no_data, straight, cycles=3, seed=0)


@pytest.mark.slow
def test_kill_loop_of_twenty_ends_bit_identical(tmp_path, no_data, straight):
    kill_loop(tmp_path, no_data, straight, cycles=20, seed=1)


def test_a_second_writer_is_refused_and_named(tmp_path, no_data):
    with claim(tmp_path / "run"):  # as a run started a moment earlier would hold it
        result = cli("run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "run")
    message = short_message(result)
    assert f"process {os.getpid()}" in message and "is being written by" in message


def test_two_runs_started_together_do_not_both_claim_success(tmp_path, no_data):
    args = [sys.executable, "cli.py", "run", *TINY, "--epochs", "6", "--data-dir", str(no_data), "--out",
            str(tmp_path), "--name", "run"]  # fmt: skip
    first, second = (subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for _ in range(2))  # fmt: skip
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes[0] == 0 and codes[1] != 0, outputs
    loser = outputs[[first.returncode, second.returncode].index(codes[1])]
    assert "is being written by" in loser or "already holds a run" in loser
    assert sum("wrote " in output for output in outputs) == 1


# ----- messages instead of tracebacks -----------------------------------------------------------------


def corrupt(path, how):
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        info = {name: archive.getinfo(name) for name in names}
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    else:  # flip bytes of one member: its local header (name) or the middle of its data
        member = info[next(n for n in names if n.startswith("optim/m/" if how == "adam member" else "param/"))]
        start = member.header_offset + (14 if how == "adam member" else 30 + len(member.filename) + 200)
        data[start : start + 16] = bytes(255 - b for b in data[start : start + 16])
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "adam member", "weight member", "random bytes"])
def test_a_damaged_checkpoint_is_named_in_one_line(tmp_path, straight, how):
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-r", str(straight), str(run_dir)], check=True)
    (run_dir / "metrics.json").unlink()  # an unfinished run, to --resume
    corrupt(run_dir / "checkpoint.npz", how)
    message = short_message(cli("run", "--resume", run_dir, "--no-progress"))
    assert "checkpoint.npz" in message and ("damaged" in message or "not a checkpoint" in message)
    assert "pickled" not in message and "delete that file" in message
    evaluated = cli("evaluate", run_dir, "--weights", "last")
    if how == "adam member":  # evaluate reads the weights only, and they are intact
        assert evaluated.exit_code == 0, evaluated.output
    else:
        assert "checkpoint.npz" in short_message(evaluated)


def test_folders_that_are_not_runs_and_broken_runs_are_named(tmp_path, no_data, straight):
    assert "not a minimtl run folder" in short_message(cli("run", "--resume", no_data))
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(straight), str(broken)], check=True)
    (broken / "config.json").write_text("{ not json")
    assert "config.json is damaged" in short_message(cli("run", "--resume", broken))
    no_checkpoint = tmp_path / "no-checkpoint"
    subprocess.run(["cp", "-r", str(straight), str(no_checkpoint)], check=True)
    for name in ("checkpoint.npz", "best-tb.npz", "best-pneumonia.npz"):
        (no_checkpoint / name).unlink()
    assert "best-tb.npz, which holds it, is missing" in short_message(cli("evaluate", no_checkpoint))
    message = short_message(cli("evaluate", no_checkpoint, "--weights", "last"))
    assert "has no checkpoint.npz" in message and "deleted or not copied" in message
    no_split = tmp_path / "no-split"
    subprocess.run(["cp", "-r", str(straight), str(no_split)], check=True)
    (no_split / "split.json").unlink()
    assert "has no split.json" in short_message(cli("evaluate", no_split))


def test_resume_on_other_images_is_refused(tmp_path, straight):
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-r", str(straight), str(run_dir)], check=True)
    (run_dir / "metrics.json").unlink()
    other = tmp_path / "other"
    for label, name in ((0, "normal"), (1, "tb")):
        for k in range(6):
            write_image(other / "tb" / name / f"{label}-{k}.png")
    message = short_message(cli("run", "--resume", run_dir, "--data-dir", other, "--no-progress"))
    assert "was trained on the images of" in message and "leave out --data-dir" in message


def test_an_unwritable_out_is_found_before_the_images_load(tmp_path, no_data):
    a_file = tmp_path / "file"
    a_file.write_text("")
    result = cli("run", *TINY, "--data-dir", no_data, "--out", a_file / "runs")
    assert "--out" in short_message(result) and "Using synthetic phantoms" not in result.output
    if os.geteuid() != 0:  # root writes into read-only folders anyway
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "--out" in short_message(cli("run", *TINY, "--data-dir", no_data, "--out", locked))


def test_a_full_disk_is_one_message_and_the_run_resumes(tmp_path, no_data, straight, monkeypatch):
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync_on_a_full_disk(fd):
        calls["n"] += 1
        if calls["n"] == 5:  # some files of epoch 1 are written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(atomic_module.os, "fsync", fsync_on_a_full_disk)
    message = short_message(cli("run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "run"))
    assert "no space left on the device while writing" in message and "--resume" in message
    monkeypatch.undo()
    assert cli("run", "--resume", tmp_path / "run", "--no-progress").exit_code == 0
    same_run(tmp_path / "run", straight)


@pytest.mark.parametrize("option", ["--lr", "--val-fraction"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_options_are_refused(option, value, no_data, tmp_path):
    result = cli("run", option, value, "--data-dir", no_data, "--out", tmp_path)
    assert result.exit_code == 2 and option in result.output
    # nan passes every range comparison, so it needs the finiteness check; inf may fail the range first
    assert "not a finite number" in result.output or (value == "inf" and "not in the range" in result.output)


def test_a_file_name_that_is_not_utf8_is_trained_on(tmp_path):
    data = tmp_path / "data"
    for label, name in ((0, "normal"), (1, "tb")):
        for k in range(8):
            write_image(data / "tb" / name / f"{label}-{k}.png")
    odd = os.fsdecode(b"caf\xe9-\xff.png")  # Latin-1 bytes: not valid UTF-8
    write_image(data / "tb" / "tb" / odd)
    result = cli("run", "--arch", "single-tb", "--image-size", "12", "--epochs", "1", "--split", "patient",
                 "--data-dir", data, "--out", tmp_path / "runs", "--name", "r", "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "runs" / "r" / "config.json").read_text())["data"]["images"] == 17


def test_memory_is_estimated_first_and_an_impossible_run_refused(tmp_path, no_data):
    result = cli("run", "--image-size", "100000", "--data-dir", no_data, "--out", tmp_path, "--name", "x")
    message = short_message(result)
    assert "GiB" in message and "available" in message and "--image-size" in message
    assert not (tmp_path / "x").exists()  # refused before anything was made
    config = RunConfig(arch="multitask64", image_size=1024)
    with pytest.raises(NotEnoughMemory, match=r"needs about (\d+\.\d) GiB of memory and 16\.0 GiB"):
        check_memory(config, 6502, available=16 * 2**30)
    line = check_memory(RunConfig(arch="multitask64", image_size=256), 6502, available=16 * 2**30)
    # 264M weights x (W, m, v) x 4 bytes = 3.0 GiB; 6502 images of 256 x 256 bytes = 0.4 GiB
    assert "images 0.4, model 3.0" in line
    ok = cli("run", *TINY, "--epochs", "1", "--data-dir", no_data, "--out", tmp_path, "--name", "ok")
    assert ok.output.startswith("memory: about")


# ----- quiet where it should speak ----------------------------------------------------------------------


def test_skipped_images_are_counted_and_listed(tmp_path):
    data = tmp_path / "data"
    build_nlm(data / "CXR_png", labels=(0, 1) * 8)
    (data / "CXR_png" / "CHNCXR_0100_1.png").write_bytes(b"not a png")  # found, but cannot be decoded
    args = ["run", "--arch", "single-tb", "--image-size", "12", "--epochs", "1", "--split", "patient",
            "--data-dir", data, "--out", tmp_path / "runs", "--no-progress"]  # fmt: skip
    result = cli(*args, "--name", "r")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "r"
    assert "skipped 1 unreadable file" in result.output and str(run_dir / "skipped.csv") in result.output
    assert "CHNCXR_0100_1.png" in (run_dir / "skipped.csv").read_text()
    assert json.loads((run_dir / "metrics.json").read_text())["data"]["skipped"] == 1
    assert "could not be used (listed in `skipped.csv`)" in (run_dir / "report.md").read_text()
    (data / "CXR_png" / "CHNCXR_0101_7.png").write_bytes(b"")  # a folder-scan problem too: no label 7
    strict = cli(*args, "--name", "s", "--strict")
    assert "CHNCXR_0100_1.png" in strict.output and "CHNCXR_0101_7.png" in strict.output  # both, in one pass


def test_exploding_and_collapsed_training_is_warned_about(tmp_path, no_data):
    phantoms = make_phantoms(n_per_class=6, image_size=12, seed=1)
    config = RunConfig(arch="single-tb", image_size=12, epochs=1, lr=1e4, split="patient", val_fraction=0.3)
    lines = []
    metrics = train_and_report(config, phantoms, tmp_path / "run", log=lines.append)
    warnings = " ".join(metrics["warnings"])
    assert "training is exploding" in warnings and "predicts one class" in warnings
    assert any(line.startswith("warning:") for line in lines)
    assert "## Warnings" in (tmp_path / "run" / "report.md").read_text()


def test_ctrl_c_while_loading_says_nothing_was_written(tmp_path, no_data, monkeypatch):
    import minimtl.commands.options as options

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(options, "load_or_phantoms", interrupted)
    result = cli("run", *TINY, "--data-dir", no_data, "--out", tmp_path, "--name", "x")
    assert result.exit_code == 130 and "nothing was written" in result.output
    assert not (tmp_path / "x").exists()


# ----- small things -----------------------------------------------------------------------------------------


def test_files_get_the_umask_permissions(tmp_path):
    previous = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_every_output_of_a_phantom_run_says_synthetic(straight):
    for name in ("history.csv", "predictions.csv"):
        header, *rows = (straight / name).read_text().splitlines()
        assert header.split(",")[-1] == "synthetic" and all(row.endswith(",1") for row in rows)
    report = (straight / "report.md").read_text()
    assert "`best-tb.npz`" in report and "`best-pneumonia.npz`" in report and "SYNTHETIC" in report


def test_help_texts_and_plurals():
    assert "20%" in cli("compare", "--help").output and "20%%" not in cli("compare", "--help").output
    assert "every unreadable image and bad folder is listed" in " ".join(cli("run", "--help").output.split())


def test_interrupt_tests_pass_with_sigint_ignored():
    """A background job inherits SIGINT ignored: the interrupt tests must not depend on the handler."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_train.py", "-k", "interrupt"],
        cwd=REPO, capture_output=True, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


def test_one_line_leaves_out_quoted_bytes():
    from minimtl.common.messages import one_line

    error = zipfile.BadZipFile("File name in directory 'a.npy' and header b'a.npy\\x01\\x00' differ.")
    assert one_line(error) == "BadZipFile: File name in directory 'a.npy' and header <bytes> differ."
    assert len(one_line(ValueError("x" * 10_000))) == 160
