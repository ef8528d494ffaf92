"""``samfuse.assembly``: one spec, one set of defaults, one-line refusals (issue 22). The end-to-end check (every
method through fuse, eval, bench and the API) is tests/test_every_method.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from nothing_lost import assert_one_error
from nothing_lost import samfuse as run
from samfuse.assembly import DEFAULT_MASKS, BuildError, MaskSpec, PipelineSpec, build, build_masks, pipeline_record
from samfuse.io import InputError
from samfuse.options import split_key_values


def test_text_options_are_typed_by_the_builder() -> None:
    pipeline = build(PipelineSpec("average", options={"ir_weight": "0.25"}))
    assert pipeline.spec.options == {"ir_weight": 0.25}
    assert pipeline_record(pipeline)["options"] == {"ir_weight": 0.25}
    assert build(PipelineSpec("average", options={"ir_weight": 0.25})).spec == pipeline.spec  # typed or text alike


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (PipelineSpec("nope"), "--method nope: unknown method 'nope'"),
        (PipelineSpec("average", options={"levels": "2"}), "--param levels: --method average has no such option"),
        (PipelineSpec("laplacian", options={"levels": "2.5"}), "--param levels=2.5: expected a whole number"),
        (PipelineSpec("average", backend="onnx", device="cuda"), "--backend onnx runs on the CPU"),
        (PipelineSpec("average", weights="x.onnx"), "--weights x.onnx: an exported ONNX file"),
        (PipelineSpec("average", tile_pixels=-5), "--tile-pixels -5: use 0 (never tile) or a number of pixels"),
        (PipelineSpec("sage-teacher", masks=MaskSpec("nope")), "unknown mask provider 'nope'"),
        (PipelineSpec("sage-teacher", masks=MaskSpec("thermal", checkpoint="x.pt")),
         "--mask-checkpoint: only with --masks sam (not thermal)"),
        (PipelineSpec("sage-teacher", masks=MaskSpec(options={"min_share": "x"})),
         "--mask-param min_share=x: expected a number"),
    ],
)  # fmt: skip
def test_every_refusal_is_one_input_error_line(spec: PipelineSpec, line: str) -> None:
    with pytest.raises(InputError) as err:
        build(spec)
    assert str(err.value).startswith(line) and "\n" not in str(err.value)


def test_a_build_error_keeps_the_bare_reason() -> None:
    with pytest.raises(BuildError) as err:
        build(PipelineSpec("sage-student"))  # no default weights (sage-rt ships its own)
    assert err.value.subject == "--method sage-student" and err.value.reason.startswith("sage-student needs weights")


def test_tile_pixels_is_a_spec_field_recorded_only_when_not_the_default() -> None:
    own = build(PipelineSpec("sage"))
    assert own.tile_pixels == own.method.tile_pixels and "tile_pixels" not in pipeline_record(own)  # -1: stable records
    never = build(PipelineSpec("sage", tile_pixels=0))
    assert never.tile_pixels == 0 and pipeline_record(never)["tile_pixels"] == 0
    assert pipeline_record(build(PipelineSpec("sage", tile_pixels=4096)))["tile_pixels"] == 4096


def test_the_default_provider_and_what_is_ignored_are_said_once() -> None:
    notes: list[str] = []
    warnings: list[str] = []
    pipeline = build(PipelineSpec("sage-teacher"), on_note=notes.append, on_warning=warnings.append)
    assert pipeline.masks is not None and pipeline.masks.provider.name == DEFAULT_MASKS
    assert pipeline.masks.cache is None  # the library keeps masks in memory unless a cache is named
    assert notes == ["masks from the weight-free `regions` provider (choose with --masks)"] and not warnings
    build(PipelineSpec("average", seed=3, masks=MaskSpec("thermal")), on_warning=warnings.append)
    assert warnings == [
        "--seed: ignored, --method average does not sample",
        "--masks, --mask-*: ignored, --method average uses no masks",
    ]


def test_the_mask_cache_must_not_be_an_input(tmp_path: Path) -> None:
    (tmp_path / "ir").mkdir()
    with pytest.raises(InputError, match="--mask-cache"):
        build_masks(MaskSpec(cache=tmp_path / "ir"), inputs={"--ir": tmp_path / "ir"})


def test_one_key_value_parser() -> None:
    assert split_key_values(["a-b=1", " c = x=y "]) == {"a_b": "1", "c": "x=y"}
    with pytest.raises(InputError, match=r"^--mask-param 'nope': expected KEY=VALUE$"):
        split_key_values(["nope"], "--mask-param")


def test_bench_refuses_a_param_no_method_has(tmp_path: Path) -> None:
    r = run("bench", "--methods", "average,max", "--data", "msrs", "--out", tmp_path / "r", "--param", "steps=2")
    assert_one_error(r, "--param steps: no method of --methods has such an option (average, max)")
    assert not (tmp_path / "r").exists()


def test_every_command_takes_the_same_mask_and_param_spellings() -> None:
    from click.testing import CliRunner

    from samfuse.cli.main import main

    for command in ("fuse", "eval", "bench", "robustness", "demo", "train"):
        text = CliRunner().invoke(main, [command, "--help"]).stdout
        for option in ("--masks", "--mask-cache", "--mask-checkpoint", "--mask-param", "--param"):
            assert option in text, (command, option)
    text = CliRunner().invoke(main, ["masks", "--help"]).stdout
    assert all(o in text for o in ("--masks", "--mask-checkpoint", "--mask-param"))
    assert "  --provider " not in text and "  --checkpoint " not in text  # old spellings still work, unlisted


def test_auto_backend_is_onnx_for_sage_rt_only() -> None:
    """``--backend auto`` (the default everywhere) runs sage-rt through onnxruntime, every other method in PyTorch,
    and an explicit choice or a GPU device wins."""
    from samfuse.assembly import PipelineSpec, build, resolve_backend
    from samfuse.export import OnnxMethod
    from samfuse.models import list_methods

    assert PipelineSpec().backend == "auto"
    assert resolve_backend(PipelineSpec("sage-rt")) == "onnx"
    assert resolve_backend(PipelineSpec("sage-rt", backend="torch")) == "torch"
    assert resolve_backend(PipelineSpec("sage-rt", device="cuda")) == "torch"
    assert [m for m in list_methods() if resolve_backend(PipelineSpec(m)) == "onnx"] == ["sage-rt"]
    pipeline = build(PipelineSpec("sage-rt"))
    assert isinstance(pipeline.method, OnnxMethod) and pipeline.spec.backend == "onnx"
