"""Seeded splits, the leak check, restriction to datasets, and the split file."""

import json
from collections import Counter

import numpy as np
import pytest

from minimtl.data import Collection, DataError, Split, leak_report, linked_groups, make_phantoms, make_split


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=60, image_size=16, seed=0)


def tiny_collection(patient, pixel_hash, dataset=None, labels=None, official=None):
    n = len(patient)
    return Collection(
        images=np.zeros((n, 8, 8), np.uint8),
        labels=np.zeros(n, np.int64) if labels is None else labels,
        dataset=["pneumonia"] * n if dataset is None else dataset,
        site=["kermany"] * n,
        patient=patient,
        official_split=[""] * n if official is None else official,
        paths=[f"img{k}.png" for k in range(n)],
        pixel_hash=pixel_hash,
        synthetic=False,
        image_size=8,
        data_dir="/nowhere",
    )


def assert_partition(split, n):
    together = np.concatenate([split.train, split.val, split.test])
    assert sorted(together.tolist()) == list(range(n))
    for side in (split.train, split.val, split.test):
        assert side.dtype == np.int64 and np.all(np.diff(side) > 0)


def test_linked_groups_join_patients_and_identical_pixels():
    # 0-1 share a patient, 1-2 share pixels, so 0, 1, 2 are one group; 3 alone; 4-5 share pixels.
    groups = linked_groups(np.array(["a", "a", "b", "c", "d", "e"]), np.array(["x", "y", "y", "z", "w", "w"]))
    assert groups.tolist() == [0, 0, 0, 1, 2, 2]


def test_leak_report_counts_by_hand():
    collection = tiny_collection(
        patient=np.array(["A", "A", "B", "C", "D", "D"]), pixel_hash=np.array(["x", "y", "z", "z", "w", "v"])
    )
    report = leak_report(collection, {"train": np.array([0, 2]), "val": np.array([4, 5]), "test": np.array([1, 3])})
    assert report["sizes"] == {"train": 2, "val": 2, "test": 2}
    assert report["duplicate_groups"] == 1 and report["duplicate_groups_crossing"] == 1  # {2, 3}
    assert report["patients"] == 4 and report["patients_crossing"] == 1  # A
    assert report["pairs"] == {
        "train/val": {"duplicate_groups": 0, "patients": 0},
        "train/test": {"duplicate_groups": 1, "patients": 1},
        "val/test": {"duplicate_groups": 0, "patients": 0},
    }
    assert report["test_images_linked_to_training"] == 2  # 1 via patient A, 3 via pixels z
    assert report["examples"] == {"duplicate_groups": [["img2.png", "img3.png"]], "patients": ["A"]}


def test_random_split_sizes_as_in_the_study(phantoms):
    n = len(phantoms)  # 240
    split = make_split(phantoms, "random", np.random.default_rng(0))
    assert_partition(split, n)
    n_training = int(0.8 * n)
    assert len(split.test) == n - n_training == 48
    assert len(split.val) == round(0.1 * n_training) == 19
    assert split.method == "random"
    study = make_split(phantoms, "random", np.random.default_rng(0), val_fraction=0.0)
    assert len(study.val) == 0 and len(study.train) == n_training


def test_same_seed_same_split_other_seed_other_split(phantoms):
    for method in ("random", "patient", "official"):
        a = make_split(phantoms, method, np.random.default_rng(5))
        b = make_split(phantoms, method, np.random.default_rng(5))
        c = make_split(phantoms, method, np.random.default_rng(6))
        assert all(np.array_equal(x, y) for x, y in zip(a.sides().values(), b.sides().values()))
        assert not np.array_equal(a.train, c.train)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_patient_split_has_no_leaks_and_is_stratified(phantoms, seed):
    random_split = make_split(phantoms, "random", np.random.default_rng(seed))
    assert random_split.leaks["patients_crossing"] > 0  # the phantoms do have something to leak
    split = make_split(phantoms, "patient", np.random.default_rng(seed))
    assert_partition(split, len(phantoms))
    leaks = split.leaks
    assert leaks["patients_crossing"] == 0 and leaks["duplicate_groups_crossing"] == 0
    assert leaks["test_images_linked_to_training"] == 0
    for dataset in ("pneumonia", "tb"):
        for label in (0, 1):
            stratum = (phantoms.dataset == dataset) & (phantoms.labels == label)
            share = stratum[split.test].sum() / stratum.sum()
            assert abs(share - 0.2) <= 0.05, (dataset, label, share)
            val_share = stratum[split.val].sum() / stratum[np.concatenate([split.train, split.val])].sum()
            assert abs(val_share - 0.1) <= 0.05, (dataset, label, val_share)


def test_patient_split_keeps_pixel_duplicates_of_different_patients_together():
    # Kermany has NORMAL2-IM-0095 and NORMAL2-IM-0096: two patient ids, identical pixels.
    n = 40
    patient = np.array([f"p{k}" for k in range(n)])
    pixel_hash = np.array([f"h{k}" for k in range(n)])
    pixel_hash[[3, 17, 31]] = "same"
    collection = tiny_collection(patient, pixel_hash, labels=np.arange(n) % 2)
    for seed in range(10):
        split = make_split(collection, "patient", np.random.default_rng(seed))
        sides = {name for name, idx in split.sides().items() if np.isin([3, 17, 31], idx).any()}
        assert len(sides) == 1
        assert split.leaks["duplicate_groups_crossing"] == 0


def test_official_split_uses_the_folders_and_groups_the_rest(phantoms):
    split = make_split(phantoms, "official", np.random.default_rng(0))
    assert_partition(split, len(phantoms))
    pneumonia = phantoms.dataset == "pneumonia"
    official_test = np.flatnonzero(pneumonia & (phantoms.official_split == "test"))
    assert np.array_equal(split.test[pneumonia[split.test]], official_test)
    tb_test = split.test[~pneumonia[split.test]]
    assert 0.15 <= len(tb_test) / (~pneumonia).sum() <= 0.25
    assert split.leaks["pairs"]["train/val"]["patients"] == 0  # val is carved by patient


def test_restrict_keeps_indices_into_the_whole_collection(phantoms):
    split = make_split(phantoms, "patient", np.random.default_rng(0))
    tb = split.restrict(phantoms, ["tb"])
    for name, idx in tb.sides().items():
        assert np.all(phantoms.dataset[idx] == "tb")
        whole = split.sides()[name]
        assert np.array_equal(idx, whole[phantoms.dataset[whole] == "tb"])
    assert tb.leaks["sizes"]["test"] == len(tb.test) and tb.method == "patient"
    with pytest.raises(ValueError, match=r"unknown dataset\(s\) \['covid'\]"):
        split.restrict(phantoms, ["covid"])


def test_save_and_load_give_the_same_split(phantoms, tmp_path):
    split = make_split(phantoms, "patient", np.random.default_rng(0))
    split.save(tmp_path / "split.json", phantoms)
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved["method"] == "patient" and saved["synthetic"] is True
    assert saved["sides"]["test"]["paths"] == phantoms.paths[split.test].tolist()
    assert saved["sides"]["test"]["pixel_hash"] == phantoms.pixel_hash[split.test].tolist()
    loaded = Split.load(tmp_path / "split.json", phantoms)
    for a, b in zip(split.sides().values(), loaded.sides().values()):
        assert np.array_equal(a, b)
    assert loaded.leaks == split.leaks and loaded.method == "patient"
    assert [p.name for p in tmp_path.iterdir()] == ["split.json"]  # atomic: no temporary left
    # Indices follow the files, not their positions: a reordered collection gets the same files.
    shuffled = phantoms.subset(np.random.default_rng(1).permutation(len(phantoms)))
    reloaded = Split.load(tmp_path / "split.json", shuffled)
    assert sorted(shuffled.paths[reloaded.test]) == sorted(phantoms.paths[split.test])


def test_load_names_missing_and_changed_files(phantoms, tmp_path):
    split = make_split(phantoms, "random", np.random.default_rng(0))
    path = tmp_path / "split.json"
    split.save(path, phantoms)
    saved = json.loads(path.read_text())
    saved["sides"]["test"]["paths"][0] = "synthetic/pneumonia/normal/gone.png"
    saved["sides"]["train"]["pixel_hash"][0] = "0" * 64
    path.write_text(json.dumps(saved))
    changed_file = saved["sides"]["train"]["paths"][0]
    with pytest.raises(DataError) as info:
        Split.load(path, phantoms)
    message = str(info.value)
    assert "1 file(s) not in the data: synthetic/pneumonia/normal/gone.png" in message
    assert f"1 file(s) with changed pixels: {changed_file}" in message


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{broken", "cannot read the split file"),
        ('{"format": "other"}', "format is 'other'"),
        ('{"format": "minimtl-split-v1", "method": "random"}', "cannot read the split file"),
    ],
)
def test_load_refuses_unreadable_split_files(phantoms, tmp_path, content, expected):
    (tmp_path / "split.json").write_text(content)
    with pytest.raises(DataError, match=expected):
        Split.load(tmp_path / "split.json", phantoms)
    with pytest.raises(DataError, match="cannot read the split file"):
        Split.load(tmp_path / "absent.json", phantoms)


def test_load_refuses_a_file_on_two_sides(phantoms, tmp_path):
    split = make_split(phantoms, "random", np.random.default_rng(0))
    path = tmp_path / "split.json"
    split.save(path, phantoms)
    saved = json.loads(path.read_text())
    for key in ("paths", "pixel_hash"):
        saved["sides"]["test"][key].append(saved["sides"]["train"][key][0])
    path.write_text(json.dumps(saved))
    with pytest.raises(DataError, match="puts 1 file"):
        Split.load(path, phantoms)


def test_bad_split_arguments(phantoms):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="split method must be one of"):
        make_split(phantoms, "site", rng)
    with pytest.raises(ValueError, match="test_fraction"):
        make_split(phantoms, "random", rng, test_fraction=0.0)
    with pytest.raises(ValueError, match="val_fraction"):
        make_split(phantoms, "random", rng, val_fraction=1.0)


def test_patient_split_counts_per_side_add_up(phantoms):
    split = make_split(phantoms, "patient", np.random.default_rng(0))
    per_side = Counter({name: len(idx) for name, idx in split.sides().items()})
    assert per_side == Counter(split.leaks["sizes"]) and sum(per_side.values()) == len(phantoms)
