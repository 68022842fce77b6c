"""``cli.py explain`` end to end on phantom runs, and its numbers as plain functions (for ``compare``)."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from minimtl.commands import main
from minimtl.commands.options import PHANTOM_SEED, PHANTOMS_PER_CLASS
from minimtl.data import make_phantoms
from minimtl.data.transforms import change_gamma
from minimtl.nn.losses import softmax
from minimtl.study.explain.maps import METHODS, OUTCOMES
from minimtl.study.explain.shift_test import SHIFTS, shift_test, shift_test_of
from minimtl.study.explain.site_separation import site_separation, site_separation_of
from minimtl.study.run.saved_run import RunError, open_saved_run
from minimtl.training.metrics import roc_auc

SIZE = 16  # "PA ERECT" (31 px wide) does not fit: the text shift is reported as skipped


def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A multitask64 and a single-tb phantom run of the same seed, one epoch each at 16 px."""
    root = tmp_path_factory.mktemp("explain")
    (root / "no-data").mkdir()
    for arch in ("multitask64", "single-tb"):
        result = invoke(
            ["run", "--arch", arch, "--image-size", SIZE, "--epochs", 1, "--split", "patient"]
            + ["--data-dir", root / "no-data", "--out", root, "--name", arch, "--no-progress"]
        )
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=PHANTOMS_PER_CLASS, image_size=SIZE, seed=PHANTOM_SEED)


def test_explain_writes_figures_numbers_and_a_report(runs, tmp_path):
    out = tmp_path / "explain"
    result = invoke(["explain", runs / "multitask64", "--shift", "--images", 3, "--out", out])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and "site separation" in result.output
    document = json.loads((out / "explain.json").read_text())
    assert document["synthetic"] is True and document["weights"] == open_saved_run(runs / "multitask64").chosen_weights
    assert set(document["site_separation"]["tasks"]) == {"tb", "pneumonia"}
    for entry in document["site_separation"]["tasks"].values():
        assert 0 <= entry["auc"] <= 1 and entry["separation"] == max(entry["auc"], 1 - entry["auc"])
    for task, summary in document["saliency"].items():
        assert set(summary["outside_box"]) == set(METHODS)
        for group, images in summary["images"].items():
            assert len(images["paths"]) == min(images["available"], 3 if group in OUTCOMES else 12), (task, group)
    shifted = document["shift_test"]["tasks"]["tb"]["shifted"]
    assert set(shifted) == set(SHIFTS) and "does not fit" in shifted["text"]["skipped"]
    assert all(isinstance(shifted[name]["auc_change"], float) for name in SHIFTS if name != "text")
    assert document["figures"] and all(
        (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in document["figures"]
    )
    assert {"tb-mean.png", "pneumonia-mean.png"} <= set(document["figures"])
    report = (out / "explain.md").read_text()
    assert "SYNTHETIC" in report and "lung box" in report and "## 4. Shift test" in report


def test_explain_is_reproducible_from_its_seed_and_per_task(runs, tmp_path):
    def images(*options):
        out = tmp_path / "-".join(options)
        result = invoke(
            ["explain", runs / "multitask64", "--images", 2, "--method", "gradient", "--out", out, *options]
        )
        assert result.exit_code == 0, result.output
        return json.loads((out / "explain.json").read_text())

    first, again, other_seed = images("--seed", "5"), images("--seed", "5", "--weights", "last"), images("--seed", "6")
    tb_only = images("--seed", "5", "--task", "tb")
    assert first["saliency"]["tb"]["images"] == tb_only["saliency"]["tb"]["images"]  # each task its own stream
    assert first["saliency"]["tb"]["images"] == again["saliency"]["tb"]["images"]
    assert again["weights"] == "last"
    assert first["saliency"] != other_seed["saliency"]
    assert set(tb_only["saliency"]) == {"tb"} and "tb-mean.png" in tb_only["figures"]
    assert all(name.startswith("tb-gradient-") for name in tb_only["figures"] if name != "tb-mean.png")


def test_bad_input_gets_a_one_line_error(runs, tmp_path):
    wrong_task = invoke(["explain", runs / "single-tb", "--task", "pneumonia", "--out", tmp_path / "x"])
    assert wrong_task.exit_code != 0 and "has no pneumonia head" in wrong_task.output
    assert len(wrong_task.output.strip().splitlines()) == 1
    not_a_run = invoke(["explain", tmp_path])
    assert not_a_run.exit_code != 0 and "not a minimtl run folder" in not_a_run.output
    bare = tmp_path / "bare"
    shutil.copytree(runs / "single-tb", bare, ignore=shutil.ignore_patterns("*.npz"))
    no_checkpoint = invoke(["explain", bare, "--weights", "last"])
    assert no_checkpoint.exit_code != 0 and "no checkpoint.npz" in no_checkpoint.output
    for asked in ([], ["--weights", "best"]):  # the run stands for its best epoch, whose file is gone
        no_best = invoke(["explain", bare, *asked])
        assert no_best.exit_code != 0 and "best-tb.npz, which holds it, is missing" in no_best.output


def test_single_task_runs_score_the_other_hospital_on_the_multitask_runs_test_images(runs, phantoms):
    single = open_saved_run(runs / "single-tb")
    multi = open_saved_run(runs / "multitask64")
    assert not np.any(
        phantoms.dataset[single.test_images(phantoms)] == "pneumonia"
    )  # it never saw (nor tested) Kermany
    single_full, multi_full = single.full_test(phantoms)[0], multi.full_test(phantoms)[0]
    np.testing.assert_array_equal(single_full, multi_full)  # the same seed, the same test images
    np.testing.assert_array_equal(multi_full, multi.test_images(phantoms))
    separation = site_separation(runs / "single-tb", phantoms)
    assert set(separation["tasks"]) == {"tb"}
    assert separation["groups"]["pneumonia"]["normal_test_images"] > 0
    # the AUC's orientation, recomputed by hand: Shenzhen-side (tb) normals are the positives
    test = single_full
    normals = {d: test[(phantoms.dataset[test] == d) & (phantoms.labels[test] == 0)] for d in ("tb", "pneumonia")}
    logits = single.logits("tb", phantoms.images, np.r_[normals["tb"], normals["pneumonia"]])["tb"]
    p_tb = softmax(logits)[:, 1]
    label = np.r_[np.ones(len(normals["tb"])), np.zeros(len(normals["pneumonia"]))]
    assert separation["tasks"]["tb"]["auc"] == pytest.approx(roc_auc(label, p_tb), abs=1e-12)


def test_a_score_that_ignores_the_image_cannot_separate_the_sites_nor_shift(runs, phantoms):
    run = open_saved_run(runs / "multitask64")
    for task in ("tb", "pneumonia"):  # each task's own model (per-task selection)
        for name, array in run.model_for(task).params.items():  # constant logits: every image gets the same score
            if name.endswith("dense1.W"):
                array[...] = 0
    for entry in site_separation_of(run, phantoms)["tasks"].values():
        assert entry["auc"] == 0.5  # every pair tied: one half each
    shifted = shift_test_of(run, phantoms, tasks=["tb"])["tasks"]["tb"]["shifted"]
    assert all(after.get("auc_change", 0.0) == 0.0 for after in shifted.values())


def test_an_identity_shift_changes_nothing(runs, phantoms):
    identity = {"gamma-1": ("gamma 1 (no change)", change_gamma, {"gamma": 1.0})}
    run = open_saved_run(runs / "multitask64")
    result = shift_test_of(run, phantoms, shifts=identity)
    for task in ("tb", "pneumonia"):
        assert result["tasks"][task]["shifted"]["gamma-1"]["auc_change"] == 0.0
    plain = shift_test(runs / "multitask64", phantoms)  # the plain function on a run folder, as compare calls it
    assert plain["weights"] == run.chosen_weights and set(plain["tasks"]) == {"tb", "pneumonia"}


def test_other_images_are_refused(runs):
    with pytest.raises(RunError, match="other images"):
        open_saved_run(runs / "multitask64").test_images(make_phantoms(n_per_class=5, image_size=SIZE, seed=1))
