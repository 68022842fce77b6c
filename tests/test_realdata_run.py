"""Every architecture on the real chest X-rays, end to end (slow; skipped without the images)."""

import json

import pytest
from click.testing import CliRunner

from minimtl.commands import main
from minimtl.data import resolve_data_dir
from minimtl.training.models import ARCHITECTURES

DATA_DIR = resolve_data_dir(None)
HAVE_SETS = (DATA_DIR / "chest_xray").is_dir() and any(DATA_DIR.glob("**/CHNCXR_*_*.png"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(not HAVE_SETS, reason=f"the Kermany and Shenzhen sets are not under {DATA_DIR}"),
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # decoded once for the whole module


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_one_epoch_on_real_images_learns_something(arch, tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("MINIMTL_CACHE", str(cache_dir))
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--arch",
            arch,
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--split",
            "patient",
            "--out",
            str(tmp_path),
            "--name",
            "r",
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" not in result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["synthetic"] is False
    assert metrics["split"]["leaks"]["patients_crossing"] == 0
    for task, m in metrics["tasks"].items():
        # one epoch at 32 px is far from the study's model, but well above chance on either disease
        assert m["roc_auc"]["value"] > 0.6, (task, m["roc_auc"])
    evaluated = CliRunner().invoke(main, ["evaluate", str(tmp_path / "r"), "--json"], catch_exceptions=False)
    assert json.loads(evaluated.output)["tasks"] == metrics["tasks"]
