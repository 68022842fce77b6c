"""The real sets under the data folder (skipped when they are not there).

Counts from ``data/README.md``: Kermany NORMAL 1,575 and PNEUMONIA 4,265 (train 1,341 / 3,875,
test 234 / 390, no val); Shenzhen 326 normal and 336 TB; 30 groups (62 files) of pixel-identical
Kermany images, listed in ``chest_xray/DUPLICATES.csv``.
"""

import csv

import numpy as np
import pytest

from minimtl.data import load_collection, make_split, resolve_data_dir
from minimtl.data.leaks import duplicate_groups

pytestmark = pytest.mark.realdata

DATA_DIR = resolve_data_dir(None)
HAVE_SETS = (DATA_DIR / "chest_xray").is_dir() and any(DATA_DIR.glob("**/CHNCXR_*_*.png"))


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if not HAVE_SETS:
        pytest.skip(f"the Kermany and Shenzhen sets are not under {DATA_DIR}")
    # 32 px keeps this quick; counts, hashes and patients do not depend on the size.
    return load_collection(DATA_DIR, image_size=32, progress=False, cache_dir=tmp_path_factory.mktemp("cache"))


def count(collection, **where):
    keep = np.ones(len(collection), bool)
    for field, value in where.items():
        keep &= getattr(collection, field) == value
    return int(keep.sum())


def test_counts_per_dataset_label_and_official_split(real):
    assert len(real) == 6502 and real.skipped == ()
    assert count(real, dataset="pneumonia", labels=0) == 1575
    assert count(real, dataset="pneumonia", labels=1) == 4265
    assert count(real, dataset="pneumonia", official_split="train", labels=0) == 1341
    assert count(real, dataset="pneumonia", official_split="train", labels=1) == 3875
    assert count(real, dataset="pneumonia", official_split="test", labels=0) == 234
    assert count(real, dataset="pneumonia", official_split="test", labels=1) == 390
    assert count(real, dataset="pneumonia", official_split="val") == 0
    assert count(real, dataset="tb", site="shenzhen", labels=0) == 326
    assert count(real, dataset="tb", site="shenzhen", labels=1) == 336


def test_patient_ids(real):
    kermany = real.patient[real.dataset == "pneumonia"].tolist()
    # study.md 1.9: 1,667 personN ids among the PNEUMONIA files.
    assert len({p for p in kermany if p.startswith("kermany:person")}) == 1667
    assert len(set(real.patient[real.dataset == "tb"])) == 662


def test_duplicate_groups_match_the_data_readme(real):
    groups = duplicate_groups(real.pixel_hash)
    assert len(groups) == 30 and sum(len(g) for g in groups) == 62
    listing = DATA_DIR / "chest_xray" / "DUPLICATES.csv"
    if listing.exists():
        with open(listing, newline="") as handle:
            expected = {(row["path"], row["pixel_sha256"]) for row in csv.DictReader(handle)}
        found = {(real.paths[i], real.pixel_hash[i]) for group in groups for i in group}
        assert found == expected


def test_splits_on_the_real_sets(real):
    study = make_split(real, "random", np.random.default_rng(0), val_fraction=0.0)
    assert (len(study.train), len(study.test)) == (5201, 1301)  # study.md 1.10
    assert study.leaks["patients_crossing"] > 0
    patient = make_split(real, "patient", np.random.default_rng(0))
    assert patient.leaks["patients_crossing"] == 0 and patient.leaks["duplicate_groups_crossing"] == 0
    assert patient.leaks["duplicate_groups"] == 30
    official = make_split(real, "official", np.random.default_rng(0))
    assert count(real.subset(official.test), dataset="pneumonia") == 624
    # study.md 1.9: under the personN key 170 patients cross Kermany's official train/test.
    assert official.leaks["patients_crossing"] == 170
    assert official.leaks["duplicate_groups_crossing"] == 0
