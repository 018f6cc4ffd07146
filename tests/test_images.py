"""Odd images a user's folder really has."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from pettrack.model.images import ImageReadError, load_image

from conftest import SAMPLES

SAMPLE = SAMPLES / "images" / "beagle_100.jpg"


def test_plain_jpeg():
    loaded = load_image(SAMPLE)
    assert loaded.rgb.shape == (500, 333, 3) and loaded.rgb.dtype == np.uint8
    assert (loaded.width, loaded.height) == (333, 500) and loaded.decode_scale == 1.0


def test_grayscale_rgba_and_16_bit(tmp_path):
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    gray16 = (np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray16.png"), gray16)
    colour16 = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "colour16.png"), colour16)
    cv2.imwrite(str(tmp_path / "colour16.tif"), colour16)
    for name in ("gray.png", "rgba.png", "gray16.png", "colour16.png", "colour16.tif"):
        loaded = load_image(tmp_path / name)
        assert loaded.rgb.shape == rgb.shape and loaded.rgb.dtype == np.uint8, name
        # Same picture, not a black or saturated one.
        assert abs(float(loaded.rgb.mean()) - float(rgb.mean())) < 8, name


def test_exif_rotation_is_applied(tmp_path):
    image = Image.open(SAMPLE)  # 333 wide, 500 high
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, display rotated 90 degrees clockwise
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    loaded = load_image(tmp_path / "rotated.jpg")
    assert (loaded.width, loaded.height) == (500, 333)
    assert loaded.rgb.shape == (333, 500, 3)


def test_truncated_jpeg_is_an_error_not_a_grey_image(tmp_path):
    data = SAMPLE.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated|decode"):
        load_image(tmp_path / "cut.jpg")


def test_text_file_named_like_an_image(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ImageReadError, match="not an image"):
        load_image(tmp_path / "notes.jpg")


def test_missing_file():
    with pytest.raises(ImageReadError, match="not found"):
        load_image(SAMPLES / "nope.jpg")


def test_huge_jpeg_decodes_reduced_but_reports_full_size(tmp_path):
    big = cv2.resize(cv2.imread(str(SAMPLE)), (4000, 6000))
    cv2.imwrite(str(tmp_path / "big.jpg"), big)
    loaded = load_image(tmp_path / "big.jpg", min_side=1024)
    assert (loaded.width, loaded.height) == (4000, 6000)
    assert 1024 <= max(loaded.rgb.shape[:2]) < 6000
    assert loaded.decode_scale == pytest.approx(loaded.rgb.shape[1] / 4000)


def test_decompression_bomb_is_refused(tmp_path):
    # A tiny PNG claiming a gigantic size.
    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, format="PNG")
    (tmp_path / "bomb.png").write_bytes(buffer.getvalue())
    with pytest.raises(ImageReadError, match="too large"):
        load_image(tmp_path / "bomb.png")


def test_an_animated_gif_is_named_an_unsupported_format(tmp_path):
    """In a folder, a GIF is skipped as an image format pettrack does not read, not as 'not an image'."""
    from pettrack.pipelines.folder import find_files

    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "blue")]
    frames[0].save(tmp_path / "cat.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "notes.txt").write_text("hello")
    listing = find_files(tmp_path, recursive=False)
    reasons = {failure.file: failure.reason for failure in listing.others}
    assert reasons["cat.gif"] == "GIF images are not supported (JPEG, PNG, WebP, BMP and TIFF are)"
    assert reasons["notes.txt"] == "not an image file type"
