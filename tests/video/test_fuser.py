"""samfuse.Fuser: the frame-by-frame API gives exactly what `samfuse fuse` writes, in the caller's layout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

import samfuse
from nothing_lost import samfuse as run
from samfuse.io import InputError, read_raw
from samfuse.pipeline import FusionPipeline
from samfuse.video.synthetic import pan_zoom_frames
from shared_paths import DATASETS, REFERENCE

PAIR = "00081D"
OFFICIAL = REFERENCE / "sage" / "sage_student_official.pt"


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("laplacian", []),
        ("average", ["--color", "opencv"]),
        ("sage-student", ["--weights", str(OFFICIAL)]),
    ],
)
def test_fuser_gives_the_image_samfuse_fuse_writes(method: str, options: list[str], tmp_path: Path) -> None:
    ir_file, vi_file = DATASETS / "MSRS/ir" / f"{PAIR}.png", DATASETS / "MSRS/vi" / f"{PAIR}.png"
    res = run("fuse", "--ir", ir_file, "--vi", vi_file, "--out", tmp_path, "--method", method, *options)
    assert res.code == 0, res.stderr
    written = read_raw(tmp_path / f"{PAIR}.png")  # RGB uint8, 640×480
    kwargs = {"color": "opencv"} if "opencv" in options else {}
    weights = OFFICIAL if method == "sage-student" else None
    rgb = samfuse.Fuser(method, weights, channels="rgb", **kwargs)(read_raw(ir_file), read_raw(vi_file))
    assert rgb.dtype == np.uint8 and rgb.shape == (480, 640, 3)
    assert np.array_equal(rgb, written)
    # the default, BGR as OpenCV reads it: the same image in BGR order
    fuser = samfuse.Fuser(method, weights, **kwargs)
    bgr = fuser(cv2.imread(str(ir_file), cv2.IMREAD_UNCHANGED), cv2.imread(str(vi_file)))
    assert bgr.flags.c_contiguous and np.array_equal(bgr, cv2.imread(str(tmp_path / f"{PAIR}.png")))


def test_fuser_returns_the_visible_frames_dtype_and_layout() -> None:
    ir = read_raw(DATASETS / "MSRS/ir" / f"{PAIR}.png")[100:220, 200:360]  # 160×120 real crops
    vi = read_raw(DATASETS / "MSRS/vi" / f"{PAIR}.png")[100:220, 200:360]
    fuser = samfuse.Fuser("average", channels="rgb")
    u8 = fuser(ir, vi)
    u16 = fuser(ir.astype(np.uint16) * 257, vi.astype(np.uint16) * 257)
    f32 = fuser(ir / np.float32(255), vi / np.float32(255))
    f64 = fuser(ir / 255.0, vi / 255.0)
    assert (u8.dtype, u16.dtype, f32.dtype, f64.dtype) == (np.uint8, np.uint16, np.float32, np.float64)
    assert u8.shape == u16.shape == f32.shape == (120, 160, 3)
    # one image at three precisions: within one 8-bit step of each other
    assert np.abs(u16 / 257.0 - u8).max() <= 0.51
    assert np.abs(f32 * 255.0 - u8).max() <= 0.51 and float(f32.min()) >= 0.0 and float(f32.max()) <= 1.0
    # grey visible: H×W in, H×W out; grey stored in three equal channels: three channels out; gray=True: H×W
    grey = cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
    assert fuser(ir, grey).shape == (120, 160)
    three = fuser(ir, np.repeat(grey[:, :, None], 3, axis=2))
    assert three.shape == (120, 160, 3) and np.array_equal(three[:, :, 0], fuser(ir, grey))
    assert samfuse.Fuser("average", gray=True)(ir, vi).shape == (120, 160)
    # BGR and RGB orders give the same image, turned around
    bgr = samfuse.Fuser("average")(ir, np.ascontiguousarray(vi[:, :, ::-1]))
    assert np.array_equal(bgr[:, :, ::-1], u8)


def test_fuser_is_safe_to_share_between_threads() -> None:
    ir = read_raw(DATASETS / "MSRS/ir" / f"{PAIR}.png")
    vi = read_raw(DATASETS / "MSRS/vi" / f"{PAIR}.png")
    pairs = list(pan_zoom_frames(ir, vi, 12, (160, 120)))
    fuser = samfuse.Fuser("laplacian", channels="rgb")
    alone = [fuser(a, b) for a, b in pairs]
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda p: fuser(*p), pairs))
    assert all(np.array_equal(x, y) for x, y in zip(alone, shared, strict=True))
    assert fuser.frames == 24


def test_masks_every_n_frames_through_the_api() -> None:
    ir = read_raw(DATASETS / "MSRS/ir" / f"{PAIR}.png")
    vi = read_raw(DATASETS / "MSRS/vi" / f"{PAIR}.png")
    pairs = list(pan_zoom_frames(ir, vi, 5, (64, 48)))
    fuser = samfuse.Fuser("sage-teacher", channels="rgb", mask_every=2)
    out = [fuser(a, b) for a, b in pairs]
    assert fuser.mask_updates == 3  # frames 0, 2, 4
    fuser.reset()
    assert np.array_equal(fuser(*pairs[1]), samfuse.Fuser("sage-teacher", channels="rgb")(*pairs[1]))
    assert fuser.mask_updates == 4 and len(out) == 5


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="channels must be 'bgr' or 'rgb'"):
        samfuse.Fuser("average", channels="yuv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask_every must be at least 1"):
        samfuse.Fuser.from_pipeline(FusionPipeline("average"), mask_every=0)
    with pytest.raises(InputError, match="^--backend onnx runs on the CPU"):  # samfuse.assembly.build: one line
        samfuse.Fuser("average", backend="onnx", device="cuda")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_channel_flip_is_the_reversed_view(dtype: type) -> None:
    from samfuse.video.fuser import _flip

    bgra = np.random.default_rng(0).integers(0, 255, (6, 7, 4)).astype(dtype)
    bgr, grey = bgra[:, :, :3], bgra[:, :, 0]
    for arr, expected in (
        (bgr, bgr[:, :, ::-1]),
        (bgra, bgra[:, :, 2::-1]),
        (grey, grey),
        (bgr[::-1, 1:], bgr[::-1, 1:, ::-1]),
    ):
        got = _flip(arr)
        assert got.dtype == arr.dtype and np.array_equal(got, expected)
