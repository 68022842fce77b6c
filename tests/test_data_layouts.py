"""Layouts below the data folder: Kermany (Kaggle), NLM (Shenzhen, Montgomery), generic folders."""

import os
import shutil

import numpy as np
import pytest

from minimtl.data import DataError, NoDataFound, load_collection
from minimtl.data.layouts import kermany_patient_id, scan_data_dir
from tests.data_fixtures import KERMANY_FILES, build_generic, build_kermany, build_nlm, write_image


def load(data_dir, tmp_path, **options):
    """load_collection at 16 px with a private cache and no progress bar."""
    return load_collection(data_dir, image_size=16, progress=False, cache_dir=tmp_path / "cache", **options)


def rows(collection):
    """path -> (dataset, site, label, patient, official_split) for every image."""
    return {
        p: (d, s, int(y), pt, o)
        for p, d, s, y, pt, o in zip(
            collection.paths,
            collection.dataset,
            collection.site,
            collection.labels,
            collection.patient,
            collection.official_split,
        )
    }


@pytest.mark.parametrize(
    "name, patient",
    [
        ("person1234_bacteria_3179.jpeg", "person1234"),
        ("person447_virus_921_1.jpeg", "person447"),
        ("IM-0117-0001.jpeg", "IM-0117"),
        ("IM-0011-0001-0002.jpeg", "IM-0011"),
        ("NORMAL2-IM-0117-0001.jpeg", "NORMAL2-IM-0117"),
        ("NORMAL2-IM-0173-0001-0001.jpeg", "NORMAL2-IM-0173"),
        ("scan_0012_3.jpeg", "scan"),  # unknown names: trailing numbers go, so more images group
        ("odd.jpeg", "odd"),
    ],
)
def test_kermany_patient_id(name, patient):
    assert kermany_patient_id(name) == patient


def test_kermany_tree_gives_official_splits_labels_and_patients(tmp_path):
    data = tmp_path / "data"
    build_kermany(data, splits=("train", "test", "val"))
    collection = load(data, tmp_path)
    found = rows(collection)
    expected_count = sum(len(names) for split in KERMANY_FILES.values() for names in split.values())
    assert len(collection) == expected_count == 12
    assert found["chest_xray/train/NORMAL/NORMAL2-IM-0117-0002.jpeg"] == (
        "pneumonia",
        "kermany",
        0,
        "kermany:NORMAL2-IM-0117",
        "train",
    )
    assert found["chest_xray/test/PNEUMONIA/person447_virus_921_1.jpeg"] == (
        "pneumonia",
        "kermany",
        1,
        "kermany:person447",
        "test",
    )
    assert found["chest_xray/val/PNEUMONIA/person1946_bacteria_4874.jpeg"][4] == "val"
    assert collection.label_names["pneumonia"] == ("normal", "pneumonia")
    assert collection.skipped == () and collection.synthetic is False
    assert collection.images.shape == (12, 16, 16) and collection.images.dtype == np.uint8
    assert list(collection.paths) == sorted(collection.paths)


def test_kaggle_zip_nesting_macosx_junk_and_missing_val(tmp_path):
    """chest_xray/ and chest_xray/chest_xray/ hold the same files; __MACOSX and ._ files are junk."""
    data = tmp_path / "data"
    outer = build_kermany(data, splits=("train", "test"))
    shutil.copytree(outer, tmp_path / "copy")
    shutil.copytree(tmp_path / "copy", outer / "chest_xray")
    (outer / "__MACOSX" / "chest_xray" / "train" / "NORMAL").mkdir(parents=True)
    (outer / "__MACOSX" / "chest_xray" / "train" / "NORMAL" / "._IM-0117-0001.jpeg").write_bytes(b"\0\5junk")
    (outer / "train" / "NORMAL" / "._IM-0117-0001.jpeg").write_bytes(b"\0\5junk")
    (outer / "train" / "NORMAL" / ".DS_Store").write_bytes(b"junk")
    collection = load(data, tmp_path)
    assert len(collection) == 10  # train 6 + test 4, each counted once
    assert all(not p.startswith("chest_xray/chest_xray/") for p in collection.paths)  # shallowest kept
    assert set(collection.official_split) == {"train", "test"}
    assert collection.skipped == ()


def test_nested_copy_with_other_content_is_a_conflict_naming_both(tmp_path):
    """Two different files claiming one Kermany image (split, class, name): neither is chosen (issue 24)."""
    data = tmp_path / "data"
    outer = build_kermany(data, splits=("train",))
    write_image(outer / "chest_xray" / "train" / "NORMAL" / "IM-0117-0001.jpeg", np.zeros((50, 50), np.uint8) + 7)
    with pytest.raises(DataError) as info:
        load(data, tmp_path)
    message = str(info.value)
    assert "Kermany image train/NORMAL/IM-0117-0001.jpeg: chest_xray/train/NORMAL/IM-0117-0001.jpeg (" in message
    assert "chest_xray/chest_xray/train/NORMAL/IM-0117-0001.jpeg (" in message and "will not choose" in message


def test_unknown_and_empty_class_folders_are_reported(tmp_path):
    data = tmp_path / "data"
    tree = build_kermany(data, splits=("train",))
    write_image(tree / "train" / "COVID" / "x-1.jpeg")
    (tree / "test" / "NORMAL").mkdir(parents=True)
    collection = load(data, tmp_path)
    assert len(collection) == 6
    assert dict(collection.skipped) == {
        "chest_xray/test/NORMAL": "empty class folder: no .png/.jpg/.jpeg files",
        "chest_xray/train/COVID": "unknown class folder 'COVID' in a chest_xray split (expected NORMAL or PNEUMONIA)",
    }
    with pytest.raises(DataError, match="chest_xray/test/NORMAL: empty class folder"):
        load(data, tmp_path, strict=True)


def test_nlm_sets_anywhere_with_sites_labels_and_masks_ignored(tmp_path):
    data = tmp_path / "data"
    build_nlm(data / "ChinaSet_AllFiles" / "CXR_png", "CHNCXR", labels=(0, 1, 1))
    build_nlm(data / "Montgomery" / "MontgomerySet" / "CXR_png", "MCUCXR", labels=(0, 1))
    # Montgomery's lung masks reuse the X-rays' names; they must not count.
    build_nlm(data / "Montgomery" / "MontgomerySet" / "ManualMask" / "leftMask", "MCUCXR", labels=(0, 1))
    (data / "ChinaSet_AllFiles" / "ClinicalReadings").mkdir()
    (data / "ChinaSet_AllFiles" / "ClinicalReadings" / "CHNCXR_0001_0.txt").write_text("male 45yrs\nnormal\n")
    collection = load(data, tmp_path)
    found = rows(collection)
    assert len(collection) == 5
    assert found["ChinaSet_AllFiles/CXR_png/CHNCXR_0002_1.png"] == ("tb", "shenzhen", 1, "shenzhen:CHNCXR_0002", "")
    assert found["Montgomery/MontgomerySet/CXR_png/MCUCXR_0001_0.png"] == (
        "tb",
        "montgomery",
        0,
        "montgomery:MCUCXR_0001",
        "",
    )
    assert len(set(collection.patient)) == 5  # one patient per image
    assert collection.label_names["tb"] == ("normal", "tb")


def test_flat_nlm_folder_and_both_datasets_together(tmp_path):
    data = tmp_path / "data"
    build_kermany(data, splits=("train",))
    build_nlm(data / "images", "CHNCXR", labels=(0, 1))
    collection = load(data, tmp_path)
    assert collection.datasets() == ["pneumonia", "tb"]
    assert list(collection.dataset).count("tb") == 2


def test_label_digit_that_is_not_0_or_1_is_skipped_or_an_error(tmp_path):
    data = tmp_path / "data"
    build_nlm(data / "CXR_png", "CHNCXR", labels=(0, 1, 2))
    collection = load(data, tmp_path)
    assert len(collection) == 2
    assert collection.skipped == (
        ("CXR_png/CHNCXR_0003_2.png", "label digit '2' before .png is not 0 (normal) or 1 (TB)"),
    )
    with pytest.raises(DataError, match=r"CXR_png/CHNCXR_0003_2\.png: label digit '2'"):
        load(data, tmp_path, strict=True)


def test_generic_two_classes_puts_normal_first_whatever_the_order(tmp_path):
    root = build_generic(tmp_path / "mine", {"abnormal": 2, "normal": 3})
    collection = load(root, tmp_path)
    found = rows(collection)
    assert found["normal/img0.png"] == ("mine", "mine", 0, "mine:normal/img0", "")
    assert found["abnormal/img1.png"][2] == 1
    assert collection.label_names["mine"] == ("normal", "abnormal")
    assert len(set(collection.patient)) == 5


def test_generic_study_layout_0_and_1_and_more_classes_sorted(tmp_path):
    study = load(build_generic(tmp_path / "study", {"1": 2, "0": 2}), tmp_path)
    assert rows(study)["0/img0.png"][2] == 0 and rows(study)["1/img0.png"][2] == 1
    three = load(build_generic(tmp_path / "three", {"b": 1, "c": 1, "a": 1}), tmp_path)
    assert {p: y for p, (_, _, y, _, _) in rows(three).items()} == {"a/img0.png": 0, "b/img0.png": 1, "c/img0.png": 2}


def test_generic_one_level_down_and_explicit_layout(tmp_path):
    data = tmp_path / "data"
    build_generic(data / "mine", {"normal": 1, "sick": 2})
    build_generic(data / "other", {"0": 1, "1": 1})
    collection = load(data, tmp_path)
    assert collection.datasets() == ["mine", "other"]
    assert len(collection) == 5
    # layout="generic" ignores a Kermany tree that auto would have taken.
    build_kermany(tmp_path / "both", splits=("train",))
    build_generic(tmp_path / "both", {"normal": 1, "sick": 1})
    assert len(load(tmp_path / "both", tmp_path)) == 6
    generic = load(tmp_path / "both", tmp_path, layout="generic")
    assert generic.datasets() == ["both"] and len(generic) == 2
    assert generic.ignored  # the Kermany files were seen and left out


def test_empty_generic_class_is_reported(tmp_path):
    root = build_generic(tmp_path / "mine", {"normal": 2, "sick": 2})
    (root / "empty").mkdir()
    collection = load(root, tmp_path)
    assert collection.skipped == (("empty", "empty class folder: no .png/.jpg/.jpeg files"),)
    assert collection.label_names["mine"] == ("normal", "sick")


def test_unknown_layout_names_an_example_file(tmp_path):
    data = tmp_path / "data"
    write_image(data / "loose.png")
    with pytest.raises(DataError, match=r"none in any recognised layout \(e\.g\. loose\.png\)"):
        load(data, tmp_path)
    build_generic(data / "cls", {"a": 1})  # generic depth is fine ...
    with pytest.raises(DataError, match="none in the 'kermany' layout"):
        load(data, tmp_path, layout="kermany")  # ... but it is not Kermany


def test_no_data_found_says_where_it_looked_and_how_to_get_data(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("nothing here")
    for folder, detail in [(tmp_path / "empty", "no .png/.jpg/.jpeg file"), (tmp_path / "absent", "does not exist")]:
        with pytest.raises(NoDataFound) as info:
            load(folder, tmp_path)
        message = str(info.value)
        assert str(folder) in message and detail in message
        assert "paultimothymooney/chest-xray-pneumonia" in message and "ChinaSet_AllFiles" in message
        assert "\n" not in message


def test_unreadable_folder_is_skipped_and_named(tmp_path, monkeypatch):
    data = tmp_path / "data"
    build_nlm(data / "ok", "CHNCXR", labels=(0, 1))
    build_nlm(data / "locked", "CHNCXR", labels=(0,), start=9)
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    # Root ignores file permissions, so the refusal is simulated where os.walk lists a folder.
    monkeypatch.setattr(os, "scandir", scandir)
    collection = load(data, tmp_path)
    assert len(collection) == 2
    assert collection.skipped == (("locked", "cannot read folder: Permission denied"),)
    with pytest.raises(DataError, match="locked: cannot read folder"):
        load(data, tmp_path, strict=True)


def test_unreadable_data_folder_is_an_error_not_no_data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    build_nlm(data, "CHNCXR", labels=(0,))

    def scandir(path="."):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(
        DataError, match=r"no readable image below .*data \(\.: cannot read folder: Permission denied\)"
    ):
        load(data, tmp_path)


def test_scan_rejects_unknown_layout_name(tmp_path):
    with pytest.raises(ValueError, match="layout must be one of"):
        scan_data_dir(tmp_path, layout="kaggle")
