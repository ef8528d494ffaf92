"""Issue 25: the last tracebacks become one line. `--param`/`--mask-param` values are read as the type the
method's builder (or the provider) declares; `export` checks its opset and output path before exporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from nothing_lost import assert_one_error
from nothing_lost import samfuse as run
from samfuse.options import convert_option
from shared_paths import DATASETS

IR, VI = DATASETS / "MSRS/ir/00004N.png", DATASETS / "MSRS/vi/00004N.png"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--method", "laplacian", "--param", "levels=abc"], "--param levels=abc: expected a whole number"),
        (["--method", "laplacian", "--param", "levels=2.5"], "--param levels=2.5: expected a whole number"),
        (["--method", "sgdfuse", "--param", "steps=abc"], "--param steps=abc: expected a whole number"),
        (["--method", "sgdfuse", "--param", "steps=2.5"], "--param steps=2.5: expected a whole number"),
        (["--method", "sgdfuse", "--param", "guidance=maybe"], "--param guidance=maybe: expected true or false"),
        (["--method", "average", "--param", "ir_weight=abc"], "--param ir_weight=abc: expected a number"),
        (["--method", "sgdfuse", "--mask-param", "min_share=abc"], "--mask-param min_share=abc: expected a number"),
        (["--method", "sgdfuse", "--mask-param", "stretch=1,2,3"],
         "--mask-param stretch=1,2,3: expected 2 comma-separated values"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    r = run("fuse", "--ir", IR, "--vi", VI, "--out", tmp_path / "o", *args)
    assert_one_error(r, line)
    assert not (tmp_path / "o").exists()


def test_values_of_the_declared_type_are_converted() -> None:
    assert convert_option("false", bool | None) is False and convert_option("Yes", bool) is True
    assert convert_option("none", int | None) is None and convert_option("7", int | None) == 7
    assert convert_option("3", float) == 3.0 and isinstance(convert_option("3", float), float)
    assert convert_option("[1, 99]", tuple[float, float]) == (1.0, 99.0)
    with pytest.raises(ValueError, match="^expected true or false$"):
        convert_option("maybe", bool | None)


def test_guidance_false_really_is_false(tmp_path: Path) -> None:
    """`guidance=false` reaches the builder as False (before: any text was truthy, `maybe` silently true)."""
    from samfuse.assembly import PipelineSpec, method_options
    from samfuse.options import split_key_values

    text = split_key_values(("guidance=false", "steps=3"))
    assert method_options(PipelineSpec("sgdfuse", options=text)) == {"guidance": False, "steps": 3}


def test_robustness_reads_param_types_too(tmp_path: Path) -> None:
    r = run("robustness", "--method", "sgdfuse", "--param", "steps=2.5", "--ir", IR, "--vi", VI,
            "--out", tmp_path / "o")  # fmt: skip
    assert_one_error(r, "--param steps=2.5: expected a whole number")


def test_export_checks_opset_and_output_path_before_exporting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    onnx = tmp_path / "a.onnx"
    cases = [
        (("--opset", "99", "--out", onnx), "--opset 99: samfuse exports opsets 17 to 20 with this torch"),
        (("--opset", "16", "--out", onnx), "--opset 16: samfuse exports opsets 17 to 20 with this torch"),
        (("--out", tmp_path / "file" / "a.onnx"),
         f"{tmp_path / 'file' / 'a.onnx'}: --out lies under {tmp_path / 'file'}, which is a file, not a folder"),
    ]  # fmt: skip
    for args, line in cases:
        assert_one_error(run("export", "--method", "sage", *args), line)
    assert not (tmp_path / "a.onnx").exists()
