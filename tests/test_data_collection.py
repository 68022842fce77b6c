"""Collection: checked shapes, read-only arrays, subset and datasets."""

import numpy as np
import pytest

from minimtl.data import Collection, make_phantoms


def test_arrays_are_read_only_views_and_the_callers_arrays_stay_writable():
    images = np.zeros((2, 8, 8), np.uint8)
    collection = Collection(
        images=images,
        labels=[0, 1],
        dataset=["tb", "tb"],
        site=["shenzhen"] * 2,
        patient=["a", "b"],
        official_split=["", ""],
        paths=["x.png", "y.png"],
        pixel_hash=["1", "2"],
        synthetic=False,
        image_size=8,
        data_dir="/d",
    )
    assert images.flags.writeable  # not frozen behind the caller's back
    with pytest.raises(ValueError, match="read-only"):
        collection.images[0, 0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        collection.labels[0] = 1
    assert collection.labels.dtype == np.int64 and collection.dataset.dtype.kind == "U"
    assert len(collection) == 2 and collection.datasets() == ["tb"]


def test_rows_must_agree():
    with pytest.raises(ValueError, match=r"Collection.paths has \(1,\) rows, labels has 2"):
        Collection(
            images=np.zeros((2, 8, 8), np.uint8),
            labels=[0, 1],
            dataset=["tb", "tb"],
            site=["s", "s"],
            patient=["a", "b"],
            official_split=["", ""],
            paths=["x.png"],
            pixel_hash=["1", "2"],
            synthetic=False,
            image_size=8,
            data_dir="",
        )
    with pytest.raises(ValueError, match=r"expected \(N, 16, 16\)"):
        Collection(
            images=np.zeros((1, 8, 8), np.uint8),
            labels=[0],
            dataset=["tb"],
            site=["s"],
            patient=["a"],
            official_split=[""],
            paths=["x.png"],
            pixel_hash=["1"],
            synthetic=False,
            image_size=16,
            data_dir="",
        )


def test_subset_by_indices_and_by_mask():
    phantoms = make_phantoms(n_per_class=5, image_size=16, seed=0)
    picked = phantoms.subset([7, 2])
    assert list(picked.paths) == [phantoms.paths[7], phantoms.paths[2]]
    assert np.array_equal(picked.images[0], phantoms.images[7])
    assert picked.synthetic and picked.label_names == phantoms.label_names and picked.image_size == 16
    tb = phantoms.subset(phantoms.dataset == "tb")
    assert tb.datasets() == ["tb"] and len(tb) == 10
    with pytest.raises(ValueError, match="boolean subset needs 20 entries"):
        phantoms.subset(np.ones(3, bool))
