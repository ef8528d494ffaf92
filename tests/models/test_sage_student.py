"""sage-student: the released weights reproduce the authors' published outputs; folded BN, taps, ONNX parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from samfuse.cli.main import main
from samfuse.io import find_pairs, read_raw
from samfuse.io.checkpoint import load_state_dict
from samfuse.models import build
from samfuse.models.sage import SageStudentNet, build_student, fold_batchnorm, load_student
from samfuse.pipeline import FusionPipeline
from shared_paths import DATASETS, REFERENCE

SAGE = REFERENCE / "sage"
OFFICIAL = SAGE / "sage_student_official.pt"
EXPECTED = SAGE / "expected"


def real_crop(rel_ir: str, rel_vi: str, box: tuple[slice, slice]) -> tuple[torch.Tensor, torch.Tensor]:
    """(IR, visible Y) of a real pair, cropped, as (1,1,h,w) float32 in [0, 1]."""
    ir = read_raw(DATASETS / rel_ir)[box]
    vi = read_raw(DATASETS / rel_vi)[box]
    ir = ir[..., 0] if ir.ndim == 3 else ir
    y = (0.299 * vi[..., 0] + 0.587 * vi[..., 1] + 0.114 * vi[..., 2]) / 255.0
    return torch.from_numpy(ir / 255.0).float()[None, None], torch.from_numpy(y).float()[None, None]


@pytest.fixture(scope="module")
def net() -> SageStudentNet:
    return load_student(OFFICIAL)


def compare(out: np.ndarray, expected: np.ndarray) -> tuple[float, int]:
    assert out.shape == expected.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - expected.astype(int))
    return float((diff == 0).mean()), int(diff.max())


def test_architecture_matches_the_released_state_dict(net: SageStudentNet) -> None:
    listed = [ln.split("\t") for ln in (SAGE / "state_dict_keys.txt").read_text().splitlines() if ln.strip()]
    ours = net.state_dict()
    assert [(k, str(tuple(v.shape))) for k, v in ours.items()] == [(k, s) for k, s, _ in listed]
    assert sum(p.numel() for p in net.parameters()) == 135_617
    assert sum(b.numel() for b in net.buffers()) == 1_105


@pytest.mark.parametrize("size", [(37, 53), (64, 48)])
def test_taps_and_any_size(net: SageStudentNet, size: tuple[int, int]) -> None:
    h, w = size
    ir, y = real_crop(
        "RoadScene/ir/FLIR_00006.jpg", "RoadScene/vi/FLIR_00006.jpg", (slice(40, 40 + h), slice(9, 9 + w))
    )
    with torch.inference_mode():
        out, taps = net(y, ir, return_taps=True)
        out2, taps2 = net.forward_features(y, ir)
    assert out.shape == (1, 1, h, w)
    shapes = [tuple(t.shape[-2:]) for t in taps]
    assert shapes == [(h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 2, w // 2), (h, w)]
    assert all(t.shape[1] == 32 for t in taps)
    assert torch.equal(out, out2) and all(torch.equal(a, b) for a, b in zip(taps, taps2, strict=True))
    assert out.min() > -1 and out.max() < 1


def test_folded_equals_unfolded_on_a_real_crop(net: SageStudentNet) -> None:
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)
    ir, y = real_crop("MSRS/ir/00004N.png", "MSRS/vi/00004N.png", (slice(150, 246), slice(200, 328)))
    with torch.inference_mode():
        a, b = net(y, ir), folded(y, ir)
        c = build_student(OFFICIAL).forward_raw(ir, y)  # the method: folded and channels-last
    assert (a - b).abs().max().item() <= 1e-5
    assert (a - c).abs().max().item() <= 1e-5
    assert a.std() > 0.05  # a real picture, not a flat output
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 17  # training module untouched
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_default_output_is_clamped_raw_is_not(net: SageStudentNet) -> None:
    """On real pairs the released student stays inside (0, 1) (0.03 to 0.99 on MSRS, M3FD, RoadScene, TNO);
    with a shifted last bias the tanh goes negative, and only ``forward`` clamps."""
    from samfuse.models.sage import SageStudent

    ir, y = real_crop("MSRS/ir/00004N.png", "MSRS/vi/00004N.png", (slice(0, 96), slice(0, 128)))
    with torch.inference_mode():
        released = build("sage-student", weights=OFFICIAL).forward_raw(ir, y)
        shifted = SageStudentNet()
        shifted.load_state_dict(net.state_dict())
        shifted.final_decoder[0].bias -= 1.0
        method = SageStudent(shifted)
        raw, out = method.forward_raw(ir, y), method(ir, y)
    assert released.min() > 0 and released.max() < 1
    assert raw.min() < -0.1 and raw.max() > 0
    assert torch.equal(out, raw.clamp(0, 1))


def test_no_weights_says_how_to_get_them() -> None:
    with pytest.raises(
        ValueError,
        match=r"needs weights: pass --weights sage\.authors.*--weights FILE.*sage_student_official\.pt.*samfuse train",
    ):
        build("sage-student")
    result = CliRunner().invoke(
        main,
        [
            "fuse",
            "--ir",
            str(DATASETS / "TNO/ir"),
            "--vi",
            str(DATASETS / "TNO/vi"),
            "--out",
            "/nonexistent",
            "--method",
            "sage-student",
        ],
    )
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "needs weights" in result.stderr


def test_samfuse_safetensors_load_like_the_authors_file(tmp_path: Path, net: SageStudentNet) -> None:
    path = tmp_path / "student.safetensors"
    save_file(load_state_dict(OFFICIAL), str(path))
    other = build_student(path)
    ir, y = real_crop("MSRS/ir/00004N.png", "MSRS/vi/00004N.png", (slice(0, 64), slice(0, 64)))
    with torch.inference_mode():
        assert torch.equal(other.forward_raw(ir, y), build_student(OFFICIAL).forward_raw(ir, y))


def test_16_bit_input_equals_8_bit() -> None:
    box = (slice(0, 1024, 4), slice(0, 1280, 4))  # LLVIP 1280×1024, every 4th pixel: 320×256
    ir = read_raw(DATASETS / "LLVIP/ir/190001.jpg")[box]
    vi = read_raw(DATASETS / "LLVIP/vi/190001.jpg")[box]
    pipeline = FusionPipeline("sage-student", weights=OFFICIAL)
    out8 = pipeline.fuse_arrays(ir, vi)
    out16 = pipeline.fuse_arrays(ir.astype(np.uint16) * 257, vi.astype(np.uint16) * 257)
    assert out8.shape == (256, 320, 3)
    np.testing.assert_allclose(out16, out8, atol=1e-6)


@pytest.mark.parametrize("stem", ["00000"])
def test_pytorch_path_reproduces_the_authors_outputs(stem: str) -> None:
    """A full 1024×768 M3FD pair through the PyTorch backend (all 8 pairs: the ONNX test below; both backends on
    all 8 and on unseen MSRS/RoadScene pairs: benchmarks/sage_student_speed.py)."""
    pipeline = FusionPipeline("sage-student", weights=OFFICIAL, color="opencv")
    pair = next(p for p in find_pairs(DATASETS / "M3FD/ir", DATASETS / "M3FD/vi").pairs if p.stem == stem)
    same, worst = compare(pipeline.fuse_pair(pair), read_raw(EXPECTED / f"{stem}.png"))
    assert same >= 0.999 and worst <= 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "sage_student.onnx"
    result = CliRunner().invoke(
        main, ["export", "--method", "sage-student", "--weights", str(OFFICIAL), "--format", "onnx", "--out", str(path)]
    )
    assert result.exit_code == 0, result.stderr
    return path


def test_cli_onnx_backend_reproduces_all_8_published_outputs(exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "fuse",
            "--ir",
            str(DATASETS / "M3FD/ir"),
            "--vi",
            str(DATASETS / "M3FD/vi"),
            "--out",
            str(out),
            "--method",
            "sage-student",
            "--weights",
            str(exported),
            "--backend",
            "onnx",
            "--color",
            "opencv",
        ],
    )
    assert result.exit_code == 0 and "8 fused, 0 failed, 0 skipped" in result.stderr
    expected = sorted(EXPECTED.glob("*.png"))
    assert len(expected) == 8
    total = same = 0
    for ref in expected:
        ratio, worst = compare(read_raw(out / ref.name), read_raw(ref))
        assert ratio >= 0.999 and worst <= 1, ref.name
        total, same = total + 1, same + ratio
    assert same / total >= 0.9999


def test_onnx_file_metadata_and_dynamic_size(exported: Path) -> None:
    import onnx

    model = onnx.load(str(exported))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["samfuse.method"] == "sage-student" and meta["samfuse.consumes"] == "y"
    assert meta["samfuse.parameters"] == "135617"
    assert meta["samfuse.weights_sha256"] == "ecfde477ca4cd65401f207d5dc91ce6c475a49891d768dbdb7a66366255ee836"
    assert "CVPR 2025" in meta["samfuse.paper"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]


@pytest.mark.parametrize(
    ("rel", "box"),
    [
        ("MSRS/{}/00107D.png", (slice(200, 329), slice(300, 501))),  # odd size 129×201
        ("RoadScene/{}/FLIR_00060.jpg", (slice(0, 120), slice(0, 160))),
        ("M3FD/{}/00471.png", (slice(300, 460), slice(500, 740))),
    ],
)
def test_onnx_and_pytorch_agree_on_real_pairs(exported: Path, rel: str, box: tuple[slice, slice]) -> None:
    from samfuse.export import OnnxMethod

    ir = read_raw(DATASETS / rel.format("ir"))[box]
    vi = read_raw(DATASETS / rel.format("vi"))[box]
    for color in ("opencv", "ycbcr"):
        a = FusionPipeline(OnnxMethod(exported), color=color).fuse_arrays(ir, vi)
        b = FusionPipeline("sage-student", weights=OFFICIAL, color=color).fuse_arrays(ir, vi)
        if color == "ycbcr":
            a, b = np.round(a * 255), np.round(b * 255)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        assert (a == b).mean() > 0.999
