"""Scoring on an external TB set: per-site metrics, the adult site probe, the cached files (by hand)."""

import numpy as np
import pytest

import minimtl.study.run.external as external_module
from minimtl.data.collection import Collection
from minimtl.study.run.external import (
    adult_site_probe,
    entry_name,
    read_external,
    set_name,
    site_metrics,
    write_external,
)


def external_set(sites, labels, data_dir="/somewhere/india"):
    n = len(labels)
    return Collection(
        images=np.zeros((n, 8, 8), dtype=np.uint8),
        labels=np.array(labels),
        dataset=np.array(["tb"] * n),
        site=np.array(sites),
        patient=np.array([f"p{k}" for k in range(n)]),
        official_split=np.array([""] * n),
        paths=np.array([f"{s}/img{k}.png" for k, s in enumerate(sites)]),
        pixel_hash=np.array([str(k) for k in range(n)]),
        synthetic=False,
        image_size=8,
        data_dir=data_dir,
    )


SITES = ["da", "da", "da", "da", "db", "db", "db"]
LABELS = [0, 0, 1, 1, 0, 0, 1]
SCORE = np.array([0.1, 0.6, 0.4, 0.9, 0.2, 0.3, 0.8])
PREDICTED = (SCORE > 0.5).astype(int)


def test_each_site_is_scored_on_its_own_images_and_pooled_beside_them():
    sites, pooled = site_metrics(external_set(SITES, LABELS), SCORE, PREDICTED)
    assert list(sites) == ["da", "db"]
    # da: positives 0.4, 0.9 against negatives 0.1, 0.6: pairs won 0.4>0.1, 0.9>0.1, 0.9>0.6 = 3 of 4
    assert sites["da"]["roc_auc"]["value"] == pytest.approx(0.75)
    assert sites["da"]["confusion_matrix"] == [[1, 1], [1, 1]]  # 0.6 a false positive, 0.4 a miss
    # db: 0.8 above both negatives
    assert sites["db"]["roc_auc"]["value"] == 1.0 and sites["db"]["n"] == 3
    # pooled: 3 positives x 4 negatives = 12 pairs; 0.4 beats 0.1, 0.2, 0.3 (3); 0.9 and 0.8 beat all 4 (8)
    assert pooled["roc_auc"]["value"] == pytest.approx(11 / 12)
    assert pooled["n"] == 7 and pooled["positives"] == 3


def test_the_adult_probe_ranks_own_healthy_images_against_each_sites():
    own = [0.5, 0.05]  # P(TB) of two of Shenzhen's healthy test images
    probe = adult_site_probe(own, external_set(SITES, LABELS), SCORE)
    # da's healthy images 0.1 and 0.6: 0.5 > 0.1 only, 0.05 beats none -> 1 of 4 pairs: AUC 0.25
    assert probe["sites"]["da"]["auc"] == pytest.approx(0.25)
    assert probe["sites"]["da"]["separation"] == pytest.approx(0.75)
    # db's healthy 0.2 and 0.3: 0.5 beats both -> 2 of 4
    assert probe["sites"]["db"]["auc"] == pytest.approx(0.5) and probe["sites"]["db"]["separation"] == 0.5
    # pooled: healthy 0.1, 0.6, 0.2, 0.3 -> 0.5 beats 3, 0.05 none: 3 of 8
    assert probe["pooled"]["auc"] == pytest.approx(3 / 8)
    assert probe["pooled"]["images"] == {"own": 2, "external": 4}
    assert probe["pooled"]["mean_probability"] == pytest.approx({"own": 0.275, "external": 0.3})
    assert probe["pooled"]["ci95"][0] <= 3 / 8 <= probe["pooled"]["ci95"][1]


def test_the_probe_is_undefined_without_images():
    probe = adult_site_probe([], external_set(SITES, LABELS), SCORE)
    assert probe["pooled"]["auc"] is None and probe["sites"]["da"]["separation"] is None


def test_the_set_is_named_after_its_folder_safely():
    assert set_name("/x/india/") == "india"
    assert set_name("/x/my set (2)") == "my-set-2"


def test_an_entry_is_named_after_the_set_and_its_resolved_folder(tmp_path, monkeypatch):
    first, second = tmp_path / "a" / "india", tmp_path / "b" / "india"
    assert entry_name(first).startswith("india-") and len(entry_name(first)) == len("india-") + 12
    assert entry_name(first) != entry_name(second)
    monkeypatch.chdir(tmp_path)
    assert entry_name("a/india") == entry_name(first) == entry_name(tmp_path / "b" / ".." / "a" / "india")


def test_a_write_stopped_between_the_two_files_leaves_no_document(tmp_path, monkeypatch):
    """The predictions are written first, the document last; an old document is removed before either, so
    a write that stops in between cannot leave the old document beside the new predictions."""
    predictions = {"tb": {"site": np.array(SITES), "path": np.array([f"p{k}" for k in range(7)]),
                          "label": np.array(LABELS), "score": SCORE, "predicted": PREDICTED}}  # fmt: skip
    write_external(tmp_path / "external", "india", {"key": {"model": "old"}}, predictions)

    def stopped(path, document):
        raise KeyboardInterrupt

    monkeypatch.setattr(external_module, "write_json", stopped)
    newer = {"tb": {**predictions["tb"], "score": 1 - SCORE}}
    with pytest.raises(KeyboardInterrupt):
        write_external(tmp_path / "external", "india", {"key": {"model": "new"}}, newer)
    assert read_external(tmp_path / "external", "india") == (None, None)


def test_the_cached_files_read_back_as_written(tmp_path):
    predictions = {
        "tb": {"site": np.array(SITES), "path": np.array([f"p{k}" for k in range(7)]), "label": np.array(LABELS),
               "score": SCORE, "predicted": PREDICTED}
    }  # fmt: skip
    write_external(tmp_path / "external", "india", {"key": {"a": 1}}, predictions)
    document, read = read_external(tmp_path / "external", "india")
    assert document == {"key": {"a": 1}}
    assert read["tb"]["score"].tolist() == SCORE.tolist()  # repr round-trips a float exactly
    assert read["tb"]["site"].tolist() == SITES and read["tb"]["label"].tolist() == LABELS
    assert read_external(tmp_path / "external", "other") == (None, None)
    (tmp_path / "external" / "india.json").write_text("{broken")
    assert read_external(tmp_path / "external", "india") == (None, None)
