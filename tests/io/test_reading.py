"""Reading every kind of file the shared datasets hold, plus generated 16-bit files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from samfuse.io import InputError, is_grey, read_image, read_raw
from shared_paths import DATASETS


def pil_rgb_or_l(path: Path) -> np.ndarray:
    """An independent decoder: Pillow, RGB or L as stored."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB") if im.mode not in ("L", "I;16") else im)


@pytest.mark.parametrize(
    ("rel", "raw_shape", "grey"),
    [
        ("MSRS/ir/00004N.png", (480, 640), True),  # PNG colour type 0: true single channel
        ("MSRS/vi/00004N.png", (480, 640, 3), False),  # PNG RGB
        ("TNO/ir/01.png", (576, 768, 3), True),  # grey stored as 3 equal channels
        ("TNO/vi/01.png", (576, 768, 3), True),  # TNO visible is grey too
        ("LLVIP/ir/190001.jpg", (1024, 1280, 3), True),  # colour JPEG holding only grey
        ("LLVIP/vi/190001.jpg", (1024, 1280, 3), False),
        ("RoadScene/ir/FLIR_00006.jpg", (329, 500), True),  # grey JPEG
        ("RoadScene/vi/FLIR_00006.jpg", (329, 500, 3), False),  # colour JPEG 4:2:0
        ("MRI_PET/mri/11.png", (256, 256, 3), True),
        ("MRI_PET/pet/11.png", (256, 256, 3), False),  # pseudo-colour
        ("M3FD/ir/00000.png", (768, 1024, 3), True),
    ],
)
def test_real_files_shape_grey_detection_and_rgb_order(rel: str, raw_shape: tuple, grey: bool) -> None:
    path = DATASETS / rel
    raw = read_raw(path)
    assert raw.shape == raw_shape and raw.dtype == np.uint8
    # RGB order, identical to Pillow's decoding (the dataset README checked PIL == OpenCV for these files)
    np.testing.assert_array_equal(raw, pil_rgb_or_l(path))
    assert is_grey(raw) is grey
    img = read_image(path)
    assert img.dtype == np.float32
    assert img.shape == (raw_shape[:2] if grey else raw_shape)
    expected = raw[..., 0] if (grey and raw.ndim == 3) else raw
    np.testing.assert_allclose(img, expected / 255.0, atol=1e-7)


def test_colour_is_not_mistaken_for_grey_on_a_dark_night_image() -> None:
    raw = read_raw(DATASETS / "MSRS/vi/00004N.png")
    assert raw.mean() < 60  # a very dark night picture, still colour
    assert not is_grey(raw)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_sixteen_bit_files_made_from_real_8bit(tmp_path: Path, ext: str) -> None:
    x8 = read_raw(DATASETS / "MSRS/ir/00004N.png")
    x16 = x8.astype(np.uint16) * 257  # full-range 16-bit copy
    path = tmp_path / f"ir16{ext}"
    assert cv2.imwrite(str(path), x16)
    raw = read_raw(path)
    assert raw.dtype == np.uint16 and raw.shape == x8.shape
    np.testing.assert_allclose(read_image(path), x8 / 255.0, atol=1e-6)


def test_sixteen_bit_fixed_range_for_a_14bit_camera(tmp_path: Path) -> None:
    x8 = read_raw(DATASETS / "MSRS/ir/00012N.png")
    x14 = x8.astype(np.uint16) * 64  # values 0..16320: a 14-bit sensor in a 16-bit container
    path = tmp_path / "ir14.png"
    cv2.imwrite(str(path), x14)
    default = read_image(path)
    assert default.max() <= 16320 / 65535 + 1e-6  # by bit depth: dark
    fixed = read_image(path, value_range=(0, 16383))
    np.testing.assert_allclose(fixed, x14 / 16383.0, atol=1e-6)
    stretched = read_image(path, value_range="minmax")
    assert stretched.min() == 0.0 and stretched.max() == 1.0


def test_sixteen_bit_colour_tiff(tmp_path: Path) -> None:
    rgb8 = read_raw(DATASETS / "RoadScene/vi/FLIR_00006.jpg")
    path = tmp_path / "vi16.tiff"
    cv2.imwrite(str(path), (rgb8.astype(np.uint16) * 257)[:, :, ::-1])
    img = read_image(path)
    assert img.shape == rgb8.shape
    np.testing.assert_allclose(img, rgb8 / 255.0, atol=1e-6)


def test_alpha_channel_is_dropped(tmp_path: Path) -> None:
    rgb = read_raw(DATASETS / "MRI_PET/pet/11.png")
    rgba = np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
    path = tmp_path / "rgba.png"
    cv2.imwrite(str(path), rgba)
    np.testing.assert_array_equal(read_raw(path), rgb)


def test_bmp_is_read(tmp_path: Path) -> None:
    grey = read_raw(DATASETS / "MSRS/ir/00004N.png")
    path = tmp_path / "a.bmp"
    cv2.imwrite(str(path), grey)
    np.testing.assert_array_equal(read_image(path), grey / np.float32(255.0))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"this is not an image"), "not a readable image"),
        (lambda p: p.write_bytes((DATASETS / "MSRS/vi/00004N.png").read_bytes()[:30000]), "truncated"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path: Path, make, reason: str) -> None:
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(InputError) as info:
        read_raw(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    assert reason in msg or "not a readable image" in msg


def test_truncated_jpeg_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes((DATASETS / "LLVIP/vi/190001.jpg").read_bytes()[:20000])
    with pytest.raises(InputError, match="cut.jpg"):
        read_raw(path)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        read_raw(DATASETS / "MSRS/ir/does-not-exist.png")
