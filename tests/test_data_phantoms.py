"""The synthetic phantoms: deterministic, shaped like the real data, and learnable."""

from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from minimtl.data import make_phantoms
from minimtl.data.leaks import duplicate_groups


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=50, image_size=64, seed=0)


def test_same_seed_same_images_other_seed_other_images(phantoms):
    again = make_phantoms(n_per_class=50, image_size=64, seed=0)
    assert np.array_equal(phantoms.images, again.images)
    assert list(phantoms.patient) == list(again.patient)
    other = make_phantoms(n_per_class=50, image_size=64, seed=1)
    assert not np.array_equal(phantoms.images, other.images)


def test_shape_of_a_collection_like_the_real_one(phantoms):
    assert len(phantoms) == 200 and phantoms.images.shape == (200, 64, 64)
    assert phantoms.images.dtype == np.uint8 and phantoms.labels.dtype == np.int64
    assert phantoms.synthetic is True and phantoms.data_dir == "" and phantoms.image_size == 64
    assert Counter(zip(phantoms.dataset.tolist(), phantoms.labels.tolist())) == {
        ("pneumonia", 0): 50,
        ("pneumonia", 1): 50,
        ("tb", 0): 50,
        ("tb", 1): 50,
    }
    sites = {d: set(phantoms.site[phantoms.dataset == d]) for d in phantoms.datasets()}
    assert sites == {"pneumonia": {"phantom-a"}, "tb": {"phantom-b"}}
    assert set(phantoms.official_split[phantoms.dataset == "pneumonia"]) == {"train", "test"}
    assert set(phantoms.official_split[phantoms.dataset == "tb"]) == {""}
    assert list(phantoms.paths) == sorted(phantoms.paths) and len(set(phantoms.paths)) == 200
    assert phantoms.label_names == {"pneumonia": ("normal", "pneumonia"), "tb": ("normal", "tb")}
    # Images use the dynamic range, not a sliver of it.
    assert phantoms.images.min() < 20 and phantoms.images.max() > 200


def test_patients_repeat_and_a_few_images_are_pixel_duplicates(phantoms):
    per_patient = Counter(phantoms.patient.tolist())
    assert 100 < len(per_patient) < 200
    assert sum(1 for count in per_patient.values() if count > 1) >= 20
    groups = duplicate_groups(phantoms.pixel_hash)
    assert len(groups) >= 1
    for group in groups:  # duplicates stay within one patient, as in Kermany
        assert len(set(phantoms.patient[group])) == 1
        assert np.array_equal(phantoms.images[group[0]], phantoms.images[group[1]])


def zone_mean(collection, dataset, label, rows):
    chosen = (collection.dataset == dataset) & (collection.labels == label)
    return collection.images[chosen][:, rows, :].astype(float).mean()


def test_disease_shows_where_it_should(phantoms):
    s = phantoms.image_size
    lower, upper = slice(int(0.5 * s), int(0.7 * s)), slice(int(0.2 * s), int(0.4 * s))
    # Pneumonia: opacities brighten the lower zones; TB: nodules or cavities mark the upper zones.
    assert zone_mean(phantoms, "pneumonia", 1, lower) > zone_mean(phantoms, "pneumonia", 0, lower) + 5
    tb_sick = phantoms.images[(phantoms.dataset == "tb") & (phantoms.labels == 1)][:, upper, :].astype(float)
    tb_well = phantoms.images[(phantoms.dataset == "tb") & (phantoms.labels == 0)][:, upper, :].astype(float)
    assert tb_sick.std(axis=(1, 2)).mean() > tb_well.std(axis=(1, 2)).mean()


@pytest.mark.parametrize("dataset", ["pneumonia", "tb"])
def test_labels_are_learnable_from_pixels(dataset):
    """A linear model on raw pixels already beats chance clearly; a CNN has more to work with."""
    collection = make_phantoms(n_per_class=120, image_size=32, seed=3)
    rows = np.flatnonzero(collection.dataset == dataset)
    x = collection.images[rows].reshape(len(rows), -1) / 255.0
    y = collection.labels[rows]
    order = np.random.default_rng(0).permutation(len(rows))
    train, test = order[:180], order[180:]
    model = LogisticRegression(max_iter=3000).fit(x[train], y[train])
    assert model.score(x[test], y[test]) >= 0.8


def test_sites_are_easy_to_tell_apart(phantoms):
    brightness = phantoms.images.reshape(len(phantoms), -1).astype(float)
    corner = brightness.reshape(-1, 64, 64)[:, 4:7, 4:7].mean(axis=(1, 2))
    # Site A has a bright corner marker; site B a dark collimation frame.
    assert corner[phantoms.site == "phantom-a"].min() > corner[phantoms.site == "phantom-b"].max()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_per_class >= 1"):
        make_phantoms(n_per_class=0)
    with pytest.raises(ValueError, match="image_size >= 8"):
        make_phantoms(n_per_class=2, image_size=4)
