"""Reading an external TB set (``<root>/<site>/{normal,tb}/``): sites, labels, and the folders refused."""

import numpy as np
import pytest

from minimtl.data.external import ExternalSetError, find_external_sites, is_external_tb_set, load_external
from tests.data_fixtures import build_external, build_generic, build_kermany, build_nlm, write_image

SITES = {"da": (3, 2, "jpg"), "db": (2, 1, "png")}


def test_each_site_folder_is_a_site_and_normal_is_label_0(tmp_path):
    root = build_external(tmp_path / "india", SITES)
    (root / "MANIFEST.csv").write_text("path\n")  # other files are left alone
    collection = load_external(root, image_size=16)
    assert len(collection) == 8 and collection.images.shape == (8, 16, 16)
    assert set(collection.dataset) == {"tb"}
    counts = {
        (s, int(k)): int(((collection.site == s) & (collection.labels == k)).sum()) for s in SITES for k in (0, 1)
    }
    assert counts == {("da", 0): 3, ("da", 1): 2, ("db", 0): 2, ("db", 1): 1}
    tb_paths = collection.paths[collection.labels == 1]
    assert all("/tb/" in path for path in tb_paths)
    assert collection.paths[0] == "da/normal/da-normal0.jpg"  # sorted by site, then path
    assert len(set(collection.patient)) == 8  # one patient per image
    assert collection.label_names == {"tb": ("normal", "tb")} and not collection.synthetic


def test_a_single_site_folder_is_named_after_itself_and_classes_ignore_case(tmp_path):
    root = tmp_path / "chennai"
    write_image(root / "NORMAL" / "a.png")
    write_image(root / "TB" / "b.png")
    write_image(root / "TB" / "c.jpeg")
    collection = load_external(root, image_size=8)
    assert list(collection.site) == ["chennai"] * 3
    assert collection.labels.tolist() == [0, 1, 1]


def test_the_training_layouts_are_not_external_sets(tmp_path):
    build_kermany(tmp_path / "kermany")
    build_nlm(tmp_path / "nlm" / "CXR_png")
    build_generic(tmp_path / "generic" / "mine", {"healthy": 2, "sick": 2})
    for name in ("kermany", "nlm", "generic"):
        assert not is_external_tb_set(tmp_path / name)
    assert is_external_tb_set(build_external(tmp_path / "ext", SITES))
    assert not is_external_tb_set(tmp_path / "missing")


@pytest.mark.parametrize(
    "make, found",
    [
        (lambda root: build_generic(root / "site", {"healthy": 2, "sick": 2}), "has no normal/ or tb/ folder"),
        (lambda root: write_image(root / "da" / "normal" / "x" / "deep.png"), "holds folders"),
        (lambda root: write_image(root / "da" / "pneumonia" / "p.png"), "folder pneumonia/"),
        (lambda root: write_image(root / "da" / "loose.png"), "image loose.png"),
        (lambda root: write_image(root / "top.png"), "outside any site folder"),
        (lambda root: (root / "db" / "tb").mkdir(parents=True), "holds no .png/.jpg/.jpeg file"),
    ],
)
def test_a_folder_that_is_not_a_tb_set_is_refused_naming_the_layouts(tmp_path, make, found):
    root = build_external(tmp_path / "ext", {"da": (2, 2, "png")})
    make(root)
    with pytest.raises(ExternalSetError, match=found) as error:
        load_external(root, image_size=8)
    assert "<root>/<site>/{normal,tb}/" in str(error.value) and "<root>/{normal,tb}/" in str(error.value)


def test_an_empty_or_missing_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExternalSetError, match="holds no site"):
        find_external_sites(tmp_path / "empty")
    with pytest.raises(ExternalSetError, match="is not a folder"):
        find_external_sites(tmp_path / "missing")


def test_an_unreadable_image_is_skipped_or_with_strict_an_error(tmp_path):
    root = build_external(tmp_path / "ext", {"da": (2, 2, "png")})
    (root / "da" / "tb" / "broken.png").write_bytes(b"not a png")
    collection = load_external(root, image_size=8)
    assert len(collection) == 4 and [p for p, _ in collection.skipped] == ["da/tb/broken.png"]
    with pytest.raises(Exception, match="broken.png"):
        load_external(root, image_size=8, strict=True)


def test_the_pixels_are_the_files_resized(tmp_path):
    root = tmp_path / "one"
    pixels = np.full((20, 20), 77, dtype=np.uint8)
    write_image(root / "normal" / "a.png", pixels)
    write_image(root / "tb" / "b.png", np.full((20, 20), 200, dtype=np.uint8))
    collection = load_external(root, image_size=10)
    assert (collection.images[0] == 77).all() and (collection.images[1] == 200).all()
