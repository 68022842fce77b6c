"""``evaluate RUN --data-dir EXTERNAL``: a finished run's TB head scored on a generated external TB set."""

import csv
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import minimtl.study.run.external as external_module
from minimtl.commands import main
from minimtl.data.external import load_external
from minimtl.study.run.external import entry_name, score_on_external
from minimtl.study.run.saved_run import disease_probability, open_saved_run
from minimtl.training.metrics import roc_auc
from tests.data_fixtures import build_external, build_generic, write_image


def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A multitask64 and a single-pneumonia phantom run of one epoch at 12 px (with validation)."""
    root = tmp_path_factory.mktemp("external-runs")
    for arch in ("multitask64", "single-pneumonia"):
        result = invoke(["run", "--arch", arch, "--epochs", "1", "--image-size", "12", "--split", "patient",
                         "--phantoms", "--out", root, "--name", arch, "--no-progress"])  # fmt: skip
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    return build_external(tmp_path_factory.mktemp("sets") / "elsewhere", {"da": (4, 3, "jpg"), "db": (3, 2, "png")})


def test_the_tb_head_is_scored_per_site_and_pooled_and_kept_in_the_run(runs, external):
    result = invoke(["evaluate", runs / "multitask64", "--data-dir", external])
    assert result.exit_code == 0, result.output
    assert "| metric | da | db | pooled |" in result.output
    assert "da 4 normal / 3 TB, db 3 normal / 2 TB" in result.output
    assert "choose no epoch, option or variant" in result.output
    kept = runs / "multitask64" / "external"
    document = json.loads((kept / f"{entry_name(external)}.json").read_text())
    with open(kept / f"{entry_name(external)}-predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {row["site"] for row in rows} == {"da", "db"}
    # every score is the run's own TB model's P(TB) on that image, recomputed here
    run = open_saved_run(runs / "multitask64")
    images = load_external(external, 12)
    expected = disease_probability(run, "tb", images.images, np.arange(len(images)))
    assert [row["path"] for row in rows] == images.paths.tolist()
    np.testing.assert_allclose([float(row["score"]) for row in rows], expected, rtol=0, atol=1e-12)
    # and each site's ROC-AUC is that of its own rows
    for site in ("da", "db"):
        mine = [row for row in rows if row["site"] == site]
        auc = roc_auc([int(r["label"]) for r in mine], [float(r["score"]) for r in mine])
        assert document["tasks"]["tb"]["sites"][site]["roc_auc"]["value"] == pytest.approx(auc)
        assert document["tasks"]["tb"]["sites"][site]["n"] == len(mine)
    assert document["tasks"]["tb"]["pooled"]["n"] == 12
    assert document["weights"] == "best" and document["epoch"] == run.epoch_for("tb")
    # the adult probe: the run's own healthy TB test images against each site's healthy images
    assert set(document["adult_site"]["sites"]) == {"da", "db"}
    assert document["adult_site"]["pooled"]["images"]["external"] == 7
    assert "Adult site probe" in result.output


def test_a_second_evaluate_reuses_the_kept_scores_and_json_prints_them(runs, external):
    first = json.loads((runs / "multitask64" / "external" / f"{entry_name(external)}.json").read_text())
    result = CliRunner().invoke(main, ["evaluate", str(runs / "multitask64"), "--data-dir", str(external), "--json"])
    assert result.exit_code == 0, result.output
    assert "are reused" in result.stderr
    assert json.loads(result.stdout) == first


def test_each_external_set_keeps_its_own_entry_even_when_two_folders_share_a_name(runs, tmp_path, monkeypatch):
    """A at sets/india, B at elsewhere/india (other images): scoring B after A leaves A's entry, and scoring
    A and B again computes nothing. Kept under the folder's name alone, B's entry replaced A's, and each
    set was scored again every time the other had been."""
    run = open_saved_run(runs / "multitask64")
    sets = {
        "A": build_external(tmp_path / "sets" / "india", {"da": (3, 2, "png")}),
        "B": build_external(tmp_path / "elsewhere" / "india", {"db": (2, 3, "jpg")}),
    }
    scored, real_scores = [], external_module.external_scores

    def counted(run, external, task="tb"):
        scored.append(external.data_dir)
        return real_scores(run, external, task)

    monkeypatch.setattr(external_module, "external_scores", counted)
    documents = {}
    for label in ("A", "B", "A", "B"):
        documents.setdefault(label, score_on_external(run, load_external(sets[label], 12))[0])
    assert scored == [str(sets["A"]), str(sets["B"])]  # each scored once, then reused
    kept = sorted(path.name for path in (runs / "multitask64" / "external").glob("india-*"))
    assert kept == sorted(f"{entry_name(sets[label])}{end}" for label in "AB" for end in (".json", "-predictions.csv"))
    assert entry_name(sets["A"]) != entry_name(sets["B"]) and entry_name(sets["A"]).startswith("india-")
    assert documents["A"]["images"] == {"da": {"normal": 3, "tb": 2}}
    assert documents["B"]["images"] == {"db": {"normal": 2, "tb": 3}}
    assert documents["A"]["key"]["set_dir"] == str(sets["A"].resolve())


def test_a_run_without_a_tb_head_says_so(runs, external):
    result = invoke(["evaluate", runs / "single-pneumonia", "--data-dir", external])
    assert result.exit_code != 0
    assert "has no TB head" in result.output and "pneumonia" in result.output
    assert not (runs / "single-pneumonia" / "external").exists()


def test_a_folder_that_cannot_be_read_as_a_tb_set_names_the_layouts(runs, tmp_path):
    odd = build_external(tmp_path / "odd", {"da": (2, 2, "png")})
    write_image(odd / "da" / "pneumonia" / "x.png")  # a third class beside normal/ and tb/
    result = invoke(["evaluate", runs / "multitask64", "--data-dir", odd])
    assert result.exit_code != 0 and "folder pneumonia/" in result.output
    assert "<root>/<site>/{normal,tb}/" in result.output
    other = build_generic(tmp_path / "other" / "mine", {"healthy": 2, "sick": 2})  # no normal/ + tb/ anywhere
    result = invoke(["evaluate", runs / "multitask64", "--data-dir", other.parent])
    assert result.exit_code != 0 and "no images of tb, pneumonia" in result.output
    assert "<root>/<site>/{normal,tb}/" in result.output  # the message names the layouts evaluate reads


def test_an_unfinished_run_is_not_scored_on_an_external_set(runs, external, tmp_path):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("config.json", "split.json", "checkpoint.npz", "history.csv", "best-tb.npz"):
        (unfinished / name).write_bytes((runs / "multitask64" / name).read_bytes())
    result = invoke(["evaluate", unfinished, "--data-dir", external])
    assert result.exit_code != 0 and "has not finished" in result.output


def test_kept_scores_are_recomputed_when_the_model_file_changes(runs, external):
    assert invoke(["evaluate", runs / "multitask64", "--data-dir", external]).exit_code == 0
    model = runs / "multitask64" / "best-tb.npz"
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as if written again
    result = CliRunner().invoke(main, ["evaluate", str(runs / "multitask64"), "--data-dir", str(external)])
    assert result.exit_code == 0 and "scored on elsewhere" in result.stderr and "reused" not in result.stderr


def test_a_collapsed_tb_head_says_on_which_images_it_was_decided(tmp_path, external):
    """A run without validation decides collapse on its training images (metrics.json "collapse"); the
    external text names those, not validation images it never had. The verdict is set by hand here: a
    one-epoch phantom run need not collapse."""
    result = invoke(["run", "--arch", "single-tb", "--epochs", "1", "--image-size", "12", "--val-fraction", "0",
                     "--phantoms", "--out", tmp_path, "--name", "noval", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics_path = tmp_path / "noval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    assert metrics["collapse"]["tb"]["decided_on"] == "training"
    metrics["collapse"]["tb"]["collapsed"] = True
    metrics_path.write_text(json.dumps(metrics))
    result = invoke(["evaluate", tmp_path / "noval", "--data-dir", external])
    assert result.exit_code == 0, result.output
    assert "The TB head collapsed (decided on its training images before the test)" in result.output
