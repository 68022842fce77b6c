"""``python cli.py data``: what it prints, as text and JSON, and how it fails."""

import json

import pytest
from click.testing import CliRunner

import minimtl.data.load as load_module
from minimtl.commands.data_command import data
from tests.data_fixtures import build_generic, build_kermany, build_nlm


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIMTL_DATA", raising=False)
    monkeypatch.setattr(load_module, "DEFAULT_DATA_DIR", tmp_path / "no-data-here")  # data/ of the repository
    return CliRunner()


def test_without_data_one_line_notice_then_phantoms_marked_synthetic(runner):
    """No --data-dir, no $MINIMTL_DATA, no data/: the phantoms, and one line that says so."""
    result = runner.invoke(data, ["--image-size", "16"])
    assert result.exit_code == 0, result.output
    notice = result.stderr.strip().splitlines()
    assert len(notice) == 1
    assert "No chest X-ray images found" in notice[0] and "no-data-here" in notice[0]
    assert "paultimothymooney/chest-xray-pneumonia" in notice[0] and "ChinaSet_AllFiles" in notice[0]
    assert result.stdout.startswith("SYNTHETIC DATA")
    assert "phantom-a" in result.stdout and "phantom-b" in result.stdout


def test_json_output_with_a_split(runner, tmp_path):
    root = tmp_path / "data"
    build_kermany(root, splits=("train", "test"))
    build_nlm(root / "ChinaSet_AllFiles" / "CXR_png", "CHNCXR", labels=(0, 1, 0, 1, 0, 1))
    args = ["--data-dir", str(root), "--image-size", "16", "--split", "patient", "--seed", "0", "--json"]
    result = runner.invoke(data, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["synthetic"] is False and summary["images"] == 16
    assert summary["datasets"]["pneumonia"]["labels"] == {"normal": 5, "pneumonia": 5}
    assert summary["datasets"]["pneumonia"]["official_split"]["test"] == {"normal": 2, "pneumonia": 2}
    assert summary["datasets"]["tb"]["sites"] == {"shenzhen": 6}
    # train: IM-0117, NORMAL2-IM-0117 (2 images), person1 (2), person22; test: 4 single-image patients
    assert summary["datasets"]["pneumonia"]["patients"] == 8
    assert summary["datasets"]["pneumonia"]["patients_with_several_images"] == 2
    assert summary["split"]["method"] == "patient"
    assert summary["split"]["leaks"]["patients_crossing"] == 0
    assert sum(summary["split"]["leaks"]["sizes"].values()) == 16
    text = runner.invoke(data, args[:-1])
    assert text.exit_code == 0 and "split: patient" in text.stdout and "pneumonia: 10 images" in text.stdout


def test_missing_data_dir_is_a_click_error_naming_the_option(runner, tmp_path):
    result = runner.invoke(data, ["--data-dir", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "'--data-dir'" in result.output and "does not exist" in result.output


def test_strict_turns_a_bad_file_into_an_error_naming_it(runner, tmp_path):
    root = tmp_path / "data"
    build_generic(root, {"normal": 2, "sick": 2})
    (root / "sick" / "broken.png").write_bytes(b"")
    relaxed = runner.invoke(data, ["--data-dir", str(root), "--image-size", "16"])
    assert relaxed.exit_code == 0
    assert "skipped: 1 files or folders" in relaxed.stdout and "sick/broken.png: zero-byte file" in relaxed.stdout
    strict = runner.invoke(data, ["--data-dir", str(root), "--image-size", "16", "--strict"])
    assert strict.exit_code == 1
    assert "sick/broken.png: zero-byte file" in strict.output


def test_unknown_layout_is_an_error_not_phantoms(runner, tmp_path):
    root = tmp_path / "data"
    build_generic(root, {"a": 1})
    (root / "a" / "img0.png").rename(root / "img0.png")
    (root / "a").rmdir()
    result = runner.invoke(data, ["--data-dir", str(root), "--image-size", "16"])
    assert result.exit_code == 1
    assert "none in any recognised layout" in result.output and "img0.png" in result.output
