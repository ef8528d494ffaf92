"""The issue's acceptance runs: whole MSRS, RoadScene and TNO folders through `samfuse fuse`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from samfuse.cli.main import main
from samfuse.io import list_images, read_raw
from shared_paths import DATASETS


@pytest.mark.parametrize(("folder", "count", "colour"), [("MSRS", 106, True), ("RoadScene", 221, True),
                                                          ("TNO", 13, False)])
def test_whole_folder_fuses_at_input_size(tmp_path: Path, folder: str, count: int, colour: bool) -> None:
    ir, vi = DATASETS / folder / "ir", DATASETS / folder / "vi"
    result = CliRunner().invoke(main, ["fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert f"{count} fused, 0 failed, 0 skipped" in result.stderr
    outputs = list_images(tmp_path)
    assert len(outputs) == count
    for out, src in zip(outputs, list_images(ir), strict=True):
        img = read_raw(out)
        assert img.shape[:2] == read_raw(src).shape[:2], out.name
        assert (img.ndim == 3) == colour
