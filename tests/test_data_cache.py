"""The decode cache: hits, stale and corrupt entries, atomic writes, where it lives."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

import minimtl.data.load as load_module
from minimtl.common.atomic import atomic_open
from minimtl.data import load_collection
from minimtl.data.cache import default_cache_dir
from minimtl.data.decode import resize_square
from tests.data_fixtures import build_nlm, gray, write_image


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    build_nlm(folder / "CXR_png", "CHNCXR", labels=(0, 1, 0, 1))
    return folder


def load(data, cache_dir, **options):
    return load_collection(data, image_size=16, progress=False, cache_dir=cache_dir, **options)


def no_decoding(*args, **kwargs):
    raise AssertionError("decoded although the cache should have answered")


def entry_files(cache_dir):
    return sorted(p.name for p in Path(cache_dir).iterdir())


def test_default_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINIMTL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "minimtl"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "minimtl"
    monkeypatch.setenv("MINIMTL_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_second_load_comes_from_the_cache(data, tmp_path, monkeypatch):
    first = load(data, tmp_path / "cache")
    assert [name.rsplit(".", 1)[1] for name in entry_files(tmp_path / "cache")] == ["json", "npy"]
    monkeypatch.setattr(load_module, "decode_records", no_decoding)
    second = load(data, tmp_path / "cache")
    assert np.array_equal(first.images, second.images)
    assert list(first.pixel_hash) == list(second.pixel_hash) and list(first.paths) == list(second.paths)


def test_options_and_files_key_the_cache(data, tmp_path):
    cache = tmp_path / "cache"
    load(data, cache)
    load(data, cache, crop="center")
    load_collection(data, image_size=24, progress=False, cache_dir=cache)
    assert len(entry_files(cache)) == 6  # three entries of two files
    changed = write_image(data / "CXR_png" / "CHNCXR_0001_0.png", gray(30, 30))
    reloaded = load(data, cache)
    assert len(entry_files(cache)) == 8  # a changed file is a new key, never the stale entry
    row = list(reloaded.paths).index("CXR_png/CHNCXR_0001_0.png")
    assert np.array_equal(reloaded.images[row], resize_square(changed, 16))


@pytest.mark.parametrize("damage", ["garbage_npy", "flipped_byte", "truncated_npy", "garbage_json", "missing_npy"])
def test_corrupt_entry_is_rebuilt_not_trusted(data, tmp_path, capsys, damage):
    cache = tmp_path / "cache"
    good = load(data, cache)
    npy = next(cache.glob("*.npy"))
    json_file = next(cache.glob("*.json"))
    raw = npy.read_bytes()
    if damage == "garbage_npy":
        npy.write_bytes(b"garbage")
    elif damage == "flipped_byte":
        npy.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0xFF]))  # same shape, one pixel changed
    elif damage == "truncated_npy":
        npy.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage_json":
        json_file.write_text("{not json")
    else:
        npy.unlink()
    rebuilt = load(data, cache)
    assert "unusable" in capsys.readouterr().err
    assert np.array_equal(rebuilt.images, good.images)
    assert npy.read_bytes() == raw  # rewritten whole


def test_ctrl_c_while_writing_leaves_nothing_half_written(data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def interrupted_save(handle, array, allow_pickle=False):
        handle.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        load(data, cache)
    assert entry_files(cache) == []  # no entry, no temporary file
    monkeypatch.undo()
    load(data, cache)
    assert len(entry_files(cache)) == 2


def test_atomic_writer_keeps_the_old_content_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "wb") as handle:
            handle.write(b"new, half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_cache_never_goes_into_the_data_folder(data, tmp_path, capsys):
    load(data, data / ".cache")
    assert "inside the data folder" in capsys.readouterr().err
    assert not (data / ".cache").exists()


def test_unwritable_cache_folder_is_reported_and_loading_goes_on(data, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    collection = load(data, blocker / "cache")
    assert len(collection) == 4
    assert "Could not write the image cache" in capsys.readouterr().err


def test_cache_false_writes_nothing(data, tmp_path):
    load(data, tmp_path / "cache", cache=False)
    assert not (tmp_path / "cache").exists()


def test_temporary_files_of_killed_processes_are_cleaned_after_an_hour(data, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    old, fresh = cache / ".tmp-minimtl-old.npy", cache / ".tmp-minimtl-fresh.npy"
    old.write_bytes(b"left by kill -9")
    fresh.write_bytes(b"another process is writing this one")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    load(data, cache)
    assert not old.exists() and fresh.exists()
