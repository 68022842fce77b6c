"""Decoding whatever comes to 8-bit gray, resizing, and bad files."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from minimtl.data import DataError, load_collection
from minimtl.data.decode import decode_file, decode_image, read_gray8, resize_square, to_gray8
from tests.data_fixtures import add_png_chunk, build_nlm, gray, write_image


def test_gray_png_round_trips_and_hash_is_sha256_of_pixels(tmp_path):
    pixels = write_image(tmp_path / "a.png")
    assert np.array_equal(read_gray8(tmp_path / "a.png"), pixels)
    _, pixel_hash = decode_image(tmp_path / "a.png", 16)
    assert pixel_hash == hashlib.sha256(pixels.tobytes()).hexdigest()


def test_rgb_uses_luma_and_alpha_is_ignored(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: L = 0.299 * 255 = 76.2 -> 76
    rgb[2:, :, :] = 200  # gray rows stay 200
    write_image(tmp_path / "rgb.png", rgb)
    decoded = read_gray8(tmp_path / "rgb.png")
    assert decoded[0, 0] == 76 and decoded[3, 0] == 200
    rgba = np.dstack([rgb, np.zeros((4, 6), np.uint8)])  # fully transparent
    write_image(tmp_path / "rgba.png", rgba)
    assert np.array_equal(read_gray8(tmp_path / "rgba.png"), decoded)
    la = Image.merge("LA", [Image.fromarray(decoded), Image.fromarray(np.zeros((4, 6), np.uint8))])
    write_image(tmp_path / "la.png", la)
    assert np.array_equal(read_gray8(tmp_path / "la.png"), decoded)


def test_palette_png_gives_the_palette_colours_gray(tmp_path):
    image = Image.new("P", (3, 1))
    image.putpalette([0, 0, 0, 255, 255, 255, 100, 100, 100] + [0] * (253 * 3))
    image.putdata([0, 1, 2])
    write_image(tmp_path / "p.png", image)
    assert read_gray8(tmp_path / "p.png").tolist() == [[0, 255, 100]]


def test_16_bit_png_scaled_by_full_range(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)  # 257 = 65535 / 255
    write_image(tmp_path / "16.png", Image.fromarray(values))
    # round(v * 255 / 65535): 0, 1, 128.0 -> 128, 255
    assert read_gray8(tmp_path / "16.png").tolist() == [[0, 1, 128, 255]]


def test_12_bit_in_16_bit_png_scaled_by_its_real_depth(tmp_path):
    values = np.array([[0, 1000, 2048, 4095]], dtype=np.uint16)
    write_image(tmp_path / "12.png", Image.fromarray(values))
    # No sBIT: the largest value 4095 fits 12 bits, so v * 255 / 4095: 0, 62.3, 127.5, 255.
    assert read_gray8(tmp_path / "12.png").tolist() == [[0, 62, 128, 255]]
    # With sBIT = 12 the depth is read from the file, even if the image never reaches 4095.
    dim = np.array([[0, 1000]], dtype=np.uint16)
    write_image(tmp_path / "dim.png", Image.fromarray(dim))
    add_png_chunk(tmp_path / "dim.png", b"sBIT", bytes([12]))
    assert read_gray8(tmp_path / "dim.png").tolist() == [[0, 62]]
    # Without sBIT, a dim image (largest value 1000 fits 10 bits) would be scaled by 1023 instead.
    write_image(tmp_path / "dim_no_sbit.png", Image.fromarray(dim))
    assert read_gray8(tmp_path / "dim_no_sbit.png").tolist() == [[0, 249]]


def test_to_gray8_on_32_bit_integer_mode():
    image = Image.fromarray(np.array([[0, 255, 128]], dtype=np.int32), mode="I")
    assert to_gray8(image).tolist() == [[0, 255, 128]]


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    stored = np.zeros((16, 32), np.uint8)
    stored[:, 16:] = 255  # left half black, right half white, 32 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: display rotated 90 degrees clockwise
    write_image(tmp_path / "rot.jpeg", stored, exif=exif.tobytes(), quality=95)
    upright = read_gray8(tmp_path / "rot.jpeg")
    assert upright.shape == (32, 16)
    # Clockwise: the left columns become the top rows.
    assert upright[:14].mean() < 20 and upright[18:].mean() > 235


def test_shrinking_is_area_averaging():
    base = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    pattern = np.array([[0, 2], [2, 0]], np.uint8)  # mean 1
    pixels = np.kron(base, np.ones((2, 2), np.uint8)) + np.tile(pattern, (8, 8))
    assert np.array_equal(resize_square(pixels, 8), base + 1)


def test_enlarging_is_bilinear_and_each_axis_is_resized_on_its_own():
    pixels = gray(8, 8, seed=1)
    enlarged = resize_square(pixels, 16)
    expected = np.asarray(Image.fromarray(pixels).resize((16, 16), Image.Resampling.BILINEAR))
    assert np.array_equal(enlarged, expected)
    # 64 tall (shrink 4:1 by area) x 8 wide (enlarge bilinearly): each 4-row stripe period
    # averages to (0 + 100 + 200 + 100) / 4 = 100, and enlarging a constant keeps it constant.
    stripes = np.tile(np.array([[0], [100], [200], [100]], np.uint8), (16, 8))
    assert np.all(resize_square(stripes, 16) == 100)


def test_center_crop_keeps_the_aspect_ratio_and_stretch_does_not():
    pixels = np.zeros((10, 20), np.uint8)
    pixels[:, 5:15] = 200  # a centred 10 x 10 square
    assert np.all(resize_square(pixels, 10, crop="center") == 200)
    stretched = resize_square(pixels, 10, crop="stretch")
    assert stretched[:, 0].max() < 60 and stretched[:, 5].min() == 200
    with pytest.raises(ValueError, match="crop must be one of"):
        resize_square(pixels, 10, crop="pad")


def test_bad_files_get_one_line_reasons(tmp_path):
    (tmp_path / "empty.jpeg").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all\n")
    write_image(tmp_path / "full.jpeg", gray(64, 64))
    raw = (tmp_path / "full.jpeg").read_bytes()
    (tmp_path / "cut.jpeg").write_bytes(raw[: len(raw) // 2])
    write_image(tmp_path / "full.png", gray(64, 64))
    raw = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])

    def reason(name):
        pixels, pixel_hash, why = decode_file((str(tmp_path / name), 16, "stretch"))
        assert pixels is None and pixel_hash is None
        return why

    assert reason("empty.jpeg") == "zero-byte file"
    assert reason("text.png") == "not an image (Pillow cannot identify it)"
    assert reason("cut.jpeg").startswith("truncated image:")
    assert reason("cut.png").startswith(("truncated image:", "corrupt image"))
    assert reason("missing.png") == "cannot read file: No such file or directory"


def test_bad_files_are_skipped_and_listed_or_raise_in_strict_mode(tmp_path):
    data = tmp_path / "data"
    build_nlm(data / "CXR_png", "CHNCXR", labels=(0, 1, 1))
    (data / "CXR_png" / "CHNCXR_0004_0.png").write_bytes(b"")
    (data / "CXR_png" / "CHNCXR_0005_1.png").write_text("<html>not a png</html>")
    options = dict(image_size=16, progress=False, cache_dir=tmp_path / "cache")
    collection = load_collection(data, **options)
    assert len(collection) == 3
    assert collection.skipped == (
        ("CXR_png/CHNCXR_0004_0.png", "zero-byte file"),
        ("CXR_png/CHNCXR_0005_1.png", "not an image (Pillow cannot identify it)"),
    )
    with pytest.raises(DataError, match=r"CXR_png/CHNCXR_0004_0\.png: zero-byte file\n  CXR_png/CHNCXR_0005_1\.png"):
        load_collection(data, strict=True, **options)


def test_parallel_decoding_keeps_the_file_order(tmp_path):
    data = tmp_path / "data"
    labels = [k % 2 for k in range(70)]  # more than the threshold for worker threads
    build_nlm(data / "CXR_png", "CHNCXR", labels=labels)
    options = dict(image_size=12, progress=False, cache=False)
    serial = load_collection(data, workers=1, **options)
    threaded = load_collection(data, workers=2, **options)
    assert np.array_equal(serial.images, threaded.images)
    assert list(serial.pixel_hash) == list(threaded.pixel_hash)
    for k in (0, 33, 69):
        expected, _ = decode_image(data / serial.paths[k], 12)
        assert np.array_equal(threaded.images[k], expected)


def test_option_values_are_checked(tmp_path):
    with pytest.raises(ValueError, match="image_size must be an integer >= 8"):
        load_collection(tmp_path, image_size=4)
    with pytest.raises(ValueError, match="crop must be one of"):
        load_collection(tmp_path, crop="zoom")


def test_decoding_reports_progress_through_the_callback(tmp_path, capsys):
    """The data layer draws nothing itself: it calls the progress factory it is given."""
    data = tmp_path / "data"
    build_nlm(data / "CXR_png", "CHNCXR", labels=(0, 1, 1))
    bars = []

    class Bar:
        def __init__(self, label, length, status=None):
            self.label, self.length, self.steps = label, length, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            self.steps += n

    load_collection(data, image_size=12, cache=False, progress=Bar)
    assert [(bar.label, bar.length, bar.steps) for bar in bars] == [("Decoding 3 images", 3, 3)]
    load_collection(data, image_size=12, cache=False, progress=None)
    assert capsys.readouterr().err == ""
