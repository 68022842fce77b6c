"""--augment: each transform's shape, range and determinism; a resumed run draws the same augmentations."""

import signal

import numpy as np
import pytest

import minimtl.training.loop as loop_module
from minimtl.data import make_phantoms
from minimtl.data.augment import augment_batch
from minimtl.data.transforms import zoom
from minimtl.study.run.write import train_and_report
from minimtl.training.config import RunConfig
from minimtl.training.train import TrainingInterrupted


def images(n=8, side=64, seed=0):
    return np.random.default_rng(seed).integers(30, 220, (n, side, side), dtype=np.uint8)


def test_augment_keeps_shape_dtype_and_input_and_changes_the_pixels():
    batch = images()
    before = batch.copy()
    out = augment_batch(batch, np.random.default_rng(1))
    assert out.shape == batch.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(batch, before)  # the stored images are never touched
    assert all(not np.array_equal(a, b) for a, b in zip(out, batch))


def test_the_same_generator_seed_gives_the_same_batch():
    batch = images()
    first = augment_batch(batch, np.random.default_rng([7, 3]))
    np.testing.assert_array_equal(first, augment_batch(batch, np.random.default_rng([7, 3])))
    assert not np.array_equal(first, augment_batch(batch, np.random.default_rng([7, 4])))


@pytest.mark.parametrize("side", [12, 64, 256])
def test_small_and_large_images_are_augmented(side):
    out = augment_batch(images(4, side), np.random.default_rng(side))
    assert out.shape == (4, side, side)


def test_zoom_with_a_shift_moves_the_picture():
    x = np.zeros((1, 8, 8), np.uint8)
    x[0, 2, 3] = 200
    assert np.argwhere(zoom(x, 1.0, shift=(1, 2))[0]).tolist() == [[3, 5]]
    np.testing.assert_array_equal(zoom(x, 1.0), x)


def test_a_resumed_augmented_run_ends_bit_identical(tmp_path, monkeypatch):
    phantoms = make_phantoms(n_per_class=6, image_size=16, seed=1)
    config = RunConfig(arch="multitask32", image_size=16, batch_size=4, epochs=2, split="patient", seed=5, augment=True)
    quiet = {"progress": None, "log": lambda line: None}
    straight = train_and_report(config, phantoms, tmp_path / "straight", **quiet)
    train_and_report(RunConfig(**{**config.to_dict(), "augment": False}), phantoms, tmp_path / "plain", **quiet)
    with np.load(tmp_path / "straight" / "checkpoint.npz") as a, np.load(tmp_path / "plain" / "checkpoint.npz") as b:
        assert not np.array_equal(a["param/trunk.conv.W"], b["param/trunk.conv.W"])  # augmentation acted

    real_step, calls = loop_module.train_on_batch, {"n": 0}

    def ctrl_c_in_epoch_two(*args):
        calls["n"] += 1
        result = real_step(*args)
        if calls["n"] == 9:  # a step inside epoch 2: the run saves where it is in the epoch
            signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(loop_module, "train_on_batch", ctrl_c_in_epoch_two)
    with pytest.raises(TrainingInterrupted):
        train_and_report(config, phantoms, tmp_path / "resumed", **quiet)
    monkeypatch.setattr(loop_module, "train_on_batch", real_step)
    resumed = train_and_report(config, phantoms, tmp_path / "resumed", resume=True, **quiet)
    assert resumed["tasks"] == straight["tasks"] and resumed["best_val"] == straight["best_val"]
    with np.load(tmp_path / "straight" / "checkpoint.npz") as a, np.load(tmp_path / "resumed" / "checkpoint.npz") as b:
        assert all(np.array_equal(a[key], b[key]) for key in a.files if key.startswith(("param/", "optim/")))


def test_the_batched_steps_equal_the_transforms_one_image_at_a_time(monkeypatch):
    """With borders and markers off, each augmented image equals transforms.zoom, change_contrast and
    change_gamma applied in turn with the drawn parameters (the batched code does the same maths)."""
    import minimtl.data.augment as augment_module
    from minimtl.data.transforms import change_contrast, change_gamma

    monkeypatch.setitem(augment_module.AUGMENTATION, "border_probability", 0.0)
    monkeypatch.setitem(augment_module.AUGMENTATION, "marker_probability", 0.0)
    batch = images(5, 32, seed=3)
    out = augment_batch(batch, np.random.default_rng(11))
    rng = np.random.default_rng(11)  # the same draws, in augment_batch's order
    limit = augment_module.AUGMENTATION["shift"] * 32
    shifts, zooms = rng.uniform(-limit, limit, size=(5, 2)), rng.uniform(0.95, 1.05, size=5)
    contrasts, gammas = rng.uniform(0.85, 1.15, size=5), rng.uniform(0.8, 1.25, size=5)
    for k in range(5):
        one = zoom(batch[k : k + 1], zooms[k], shift=tuple(shifts[k]))
        one = change_gamma(change_contrast(one, contrasts[k]), gammas[k])
        np.testing.assert_array_equal(out[k], one[0])


@pytest.mark.parametrize("side", [5, 12, 64])
def test_the_kernel_gives_its_twins_bits(side):
    from minimtl.data import augment_numba, augment_reference
    from minimtl.data.transforms import zoom_positions

    rng = np.random.default_rng(side)
    n = 3
    batch = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    rows = np.stack([zoom_positions(side, z, s) for z, s in zip(rng.uniform(0.9, 1.1, n), rng.uniform(-3, 3, n))])
    columns = np.stack([zoom_positions(side, z, s) for z, s in zip(rng.uniform(0.9, 1.1, n), rng.uniform(-3, 3, n))])
    contrasts = rng.uniform(0.8, 1.2, n)
    tables = rng.integers(0, 256, (n, 256), dtype=np.uint8)
    fast, slow = np.empty_like(batch), np.empty_like(batch)
    augment_numba.warp_and_tone(batch, rows, columns, contrasts, tables, fast)
    augment_reference.warp_and_tone(batch, rows, columns, contrasts, tables, slow)
    np.testing.assert_array_equal(fast, slow)
