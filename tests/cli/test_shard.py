"""Issue 22: `--shard INDEX/COUNT` (or the scheduler's variables) for fuse, eval and masks, and `eval --merge`.

Eight real MSRS pairs cropped to 96×128: four shards fused and evaluated apart, merged, give the byte-identical CSV,
images and record and the same printed table as one run. Refusals assert their one line.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import pytest

from nothing_lost import Snapshot, assert_one_error
from nothing_lost import samfuse as run
from samfuse.io.provenance import RECORD
from samfuse.shard import Shard, ShardError, parse_part, part_path, resolve_shard
from shared_paths import DATASETS

MSRS = DATASETS / "MSRS"
STEMS = sorted(p.stem for p in (MSRS / "ir").glob("*.png"))[:8]
METHOD = ("--method", "laplacian")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Eight MSRS pairs, 96×128 crops of the 640×480 originals (copied in reverse order: sorting is samfuse's)."""
    root = tmp_path_factory.mktemp("msrs8")
    for mod in ("ir", "vi"):
        (root / mod).mkdir()
        for stem in reversed(STEMS):
            image = cv2.imread(str(MSRS / mod / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
            assert cv2.imwrite(str(root / mod / f"{stem}.png"), image[200:296, 250:378])
    return root / "ir", root / "vi"


@pytest.fixture(scope="module")
def fused(pairs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    ir, vi = pairs
    out = tmp_path_factory.mktemp("fused") / "all"
    r = run("fuse", "--ir", ir, "--vi", vi, "--out", out, *METHOD)
    assert r.code == 0, r.stderr
    return out


def _stems(csv_path: Path) -> list[str]:
    with open(csv_path, newline="") as fh:
        return [row["image"] for row in csv.DictReader(fh)]


def test_four_shards_merged_equal_one_run(pairs: tuple[Path, Path], fused: Path, tmp_path: Path) -> None:
    ir, vi = pairs
    whole = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--out", tmp_path / "all.csv")
    assert whole.code == 0, whole.stderr
    out, table = tmp_path / "sharded", tmp_path / "parts" / "table.csv"
    for i in range(4):
        r = run("fuse", "--ir", ir, "--vi", vi, "--out", out, *METHOD, "--shard", f"{i}/4")
        assert r.code == 0, r.stderr
        assert f"note: shard {i}/4: 2 of 8 pairs" in r.stderr.splitlines()
        assert "2 fused, 0 failed, 0 skipped" in r.stderr
        assert {p.stem for p in out.glob("*.png")} == {s for k in range(i + 1) for s in STEMS[k::4]}  # shards 0..i
        r = run("eval", "--ir", ir, "--vi", vi, "--fused", out, "--out", table, "--shard", f"{i}/4")
        assert r.code == 0, r.stderr
        assert f"cddfuse convention, 2 image(s) (shard {i}/4)" in r.stdout
        assert _stems(table.with_name(f"table.part-{i}-of-4.csv")) == STEMS[i::4]  # every 4th, sorted, from i
    assert not table.exists()
    for p in fused.glob("*.png"):  # the same images, and the same record (it does not name the shard)
        assert (out / p.name).read_bytes() == p.read_bytes()
    assert (out / RECORD).read_bytes() == (fused / RECORD).read_bytes()

    merged = run("eval", "--merge", "--out", table, "--ir", ir, "--vi", vi)
    assert merged.code == 0, merged.stderr
    assert merged.stdout == whole.stdout  # the same printed table
    assert table.read_bytes() == (tmp_path / "all.csv").read_bytes()  # the same values, to the last digit
    assert merged.stderr.splitlines()[-1] == "8 evaluated, merged from 4 parts"
    # the parts named one by one, or their folder, give the same table
    again = tmp_path / "again.csv"
    parts = sorted(table.parent.glob("table.part-*.csv"), reverse=True)
    assert run("eval", "--merge", *parts, "--out", again).stdout == whole.stdout
    assert again.read_bytes() == table.read_bytes()
    assert run("eval", "--merge", table.parent).stdout == whole.stdout


def test_env_defaults_and_precedence(
    pairs: tuple[Path, Path], fused: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ir, vi = pairs
    table = tmp_path / "t.csv"

    def shard_of_eval(*extra: str) -> tuple[list[str], list[str]]:
        for old in tmp_path.glob("t*.csv"):
            old.unlink()
        r = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--out", table, "--metrics", "EN", *extra)
        assert r.code == 0, r.stderr
        written = sorted(p.name for p in tmp_path.glob("t*.csv"))
        return written, [line for line in r.stderr.splitlines() if line.startswith("note: shard")]

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert shard_of_eval() == (["t.part-1-of-4.csv"], ["note: shard 1/4 (from RANK=1, WORLD_SIZE=4): 2 of 8 pairs"])
    assert _stems(tmp_path / "t.part-1-of-4.csv") == STEMS[1::4]
    assert shard_of_eval("--shard", "3/4")[0] == ["t.part-3-of-4.csv"]  # --shard wins
    assert shard_of_eval("--shard", "0/1") == (["t.csv"], [])  # and turns sharding off
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert shard_of_eval() == (["t.csv"], [])  # one process: no sharding
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")

    # a Slurm array --array=1-4: task 3 is the third task, shard 2 of 4
    for name, value in {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}.items():
        monkeypatch.setenv(name, value)
    source = "SLURM_ARRAY_TASK_ID=3, SLURM_ARRAY_TASK_MIN=1, SLURM_ARRAY_TASK_COUNT=4"
    assert shard_of_eval() == (["t.part-2-of-4.csv"], [f"note: shard 2/4 (from {source}): 2 of 8 pairs"])
    assert _stems(tmp_path / "t.part-2-of-4.csv") == STEMS[2::4]
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"):
        monkeypatch.delenv(name)

    monkeypatch.setenv("JOB_COMPLETION_INDEX", "3")  # Kubernetes indexed job: the count from SAMFUSE_SHARD_COUNT
    monkeypatch.setenv("SAMFUSE_SHARD_COUNT", "4")
    assert shard_of_eval()[0] == ["t.part-3-of-4.csv"]


def test_resolve_shard_from_each_scheduler() -> None:
    assert resolve_shard(None, {}) is None
    assert resolve_shard("2/3", {"RANK": "0", "WORLD_SIZE": "2"}) == Shard(2, 3, "--shard 2/3")
    assert resolve_shard(None, {"RANK": "1", "WORLD_SIZE": "2"}) == Shard(1, 2, "RANK=1, WORLD_SIZE=2")
    assert resolve_shard(None, {"RANK": "1"}) is None  # RANK alone is not a launcher's pair
    slurm = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert resolve_shard(None, slurm).index == 2  # type: ignore[union-attr]
    stepped = {"SLURM_ARRAY_TASK_ID": "20", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "10"}
    assert resolve_shard(None, {**stepped, "SLURM_ARRAY_TASK_MAX": "30"}) == Shard(
        2, 4, "SLURM_ARRAY_TASK_ID=20, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_STEP=10"
    )
    assert resolve_shard(None, {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"}) == Shard(
        0, 3, "SLURM_ARRAY_TASK_ID=0, SLURM_ARRAY_TASK_COUNT=3"
    )
    with pytest.raises(ShardError) as err:  # --array=1,3,7: three tasks, not evenly spaced
        resolve_shard(None, {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"})
    assert str(err.value) == (
        "SLURM_ARRAY_TASK_ID=7, SLURM_ARRAY_TASK_MIN=1, SLURM_ARRAY_TASK_COUNT=3: not an evenly spaced array "
        "(such as --array=1-8 or 0-30:10); give --shard INDEX/COUNT instead"
    )
    assert Shard(1, 3).take(["e", "a", "d", "b", "c", "f", "g"], key=str) == ["b", "e"]
    assert part_path(Path("out/t.csv"), Shard(1, 3)) == Path("out/t.part-1-of-3.csv")
    assert parse_part(Path("out/t.part-1-of-3.csv")) == ("t.csv", 1, 3)
    assert parse_part(Path("out/t.csv")) is None


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("4/4", "--shard 4/4: INDEX must be below COUNT (0-based: 0/4 to 3/4)"),
        ("x", "--shard x: expected INDEX/COUNT, 0-based, e.g. 0/4 to 3/4"),
        ("1/0", "--shard 1/0: COUNT must be at least 1"),
        ("-1/4", "--shard -1/4: INDEX must be below COUNT (0-based: 0/4 to 3/4)"),
    ],
)
def test_bad_shard_refused_before_work(pairs: tuple[Path, Path], tmp_path: Path, shard: str, message: str) -> None:
    ir, vi = pairs
    before = Snapshot(ir.parent)
    for args in (
        ("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "f", *METHOD),
        ("eval", "--ir", ir, "--vi", vi, "--fused", tmp_path / "f", "--out", tmp_path / "t.csv"),
        ("masks", "--images", ir, "--out", tmp_path / "m"),
    ):
        assert_one_error(run(*args, "--shard", shard), message)
    assert not list(tmp_path.iterdir())
    before.assert_unchanged()


def test_bad_environment_refused(pairs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ir, vi = pairs
    args = ("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "f", *METHOD)
    monkeypatch.setenv("RANK", "4")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert_one_error(run(*args), "RANK=4, WORLD_SIZE=4: shard 4 is not one of 0 to 3; give --shard INDEX/COUNT instead")
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    assert_one_error(
        run(*args),
        "JOB_COMPLETION_INDEX=2: set SAMFUSE_SHARD_COUNT to the job's completions, or give --shard INDEX/COUNT",
    )
    assert not list(tmp_path.iterdir())


@pytest.fixture()
def parts(pairs: tuple[Path, Path], fused: Path, tmp_path: Path) -> list[Path]:
    """The four parts of t.csv (metrics EN and SD only: quick)."""
    ir, vi = pairs
    for i in range(4):
        r = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--out", tmp_path / "t.csv", "--metrics", "EN,SD",
                "--shard", f"{i}/4")  # fmt: skip
        assert r.code == 0, r.stderr
    return [tmp_path / f"t.part-{i}-of-4.csv" for i in range(4)]


def test_merge_refuses_missing_duplicate_and_mismatched_parts(
    pairs: tuple[Path, Path], fused: Path, parts: list[Path], tmp_path: Path
) -> None:
    ir, vi = pairs
    out = tmp_path / "t.csv"
    p0, p1, p2, p3 = parts
    assert_one_error(
        run("eval", "--merge", p0, p1, p3, "--out", out), f"{p2}: missing; the merge needs all 4 parts (0 to 3)"
    )
    hidden = tmp_path / "elsewhere.csv"
    p2.rename(hidden)
    assert_one_error(run("eval", "--merge", "--out", out), f"{p2}: missing; the merge needs all 4 parts (0 to 3)")
    assert not out.exists()

    # part 2 holding part 1's rows: stem 00008N twice
    shutil.copy(p1, p2)
    assert_one_error(run("eval", "--merge", "--out", out), f"{p2}: image {STEMS[1]} is also in {p1}")
    # part 2 with other metric columns
    r = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--out", out, "--metrics", "EN", "--shard", "2/4")
    assert r.code == 0, r.stderr
    assert_one_error(run("eval", "--merge", "--out", out), f"{p2}: its metric columns (EN) differ from {p0}'s (EN,SD)")
    shutil.copy(hidden, p2)
    # parts of another count, a file that is not a part, a part missing its pairs
    other = tmp_path / "t.part-1-of-3.csv"
    shutil.copy(p1, other)
    assert_one_error(run("eval", "--merge", *parts, other), f"{other}: a part of 3, but {p0} is a part of 4")
    other.unlink()
    assert_one_error(run("eval", "--merge", hidden), f"{hidden}: not a part file (NAME.part-INDEX-of-COUNT.csv)")
    with open(p3) as fh:
        kept = [line for line in fh if not line.startswith(STEMS[7])]
    p3.write_text("".join(kept))
    assert run("eval", "--merge", "--out", out).code == 0  # without the pairs, nothing says a row is missing
    assert_one_error(
        run("eval", "--merge", "--out", out, "--ir", ir, "--vi", vi),
        f"--ir/--vi: 1 image(s) in no part: {STEMS[7]} (failed or not run in their shard: rerun it, or merge "
        "without --ir/--vi)",
    )
    assert_one_error(
        run("eval", "--merge", *parts, "--out", p0), f"{p0}: --out is one of the parts; choose another file"
    )
    assert_one_error(
        run("eval", "--merge", "--shard", "1/4", "--out", out),
        "--shard: not with --merge (it reads the values in the parts)",
    )
    assert_one_error(run("eval", p0), f"{p0}: files to merge are only read with --merge")


def test_shards_share_the_record_and_refuse_another_method(pairs: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = pairs
    out = tmp_path / "f"
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", out, *METHOD, "--shard", "0/4").code == 0
    record = (out / RECORD).read_bytes()
    # shard 1 with another method: refused, even though none of its own images exist yet
    assert_one_error(
        run("fuse", "--ir", ir, "--vi", vi, "--out", out, "--method", "average", "--shard", "1/4"),
        f'{out}: its fused images were made with method = "laplacian", not "average"; use another --out',
    )
    # a sharded --overwrite remakes its images with the same settings, and keeps the record
    r = run("fuse", "--ir", ir, "--vi", vi, "--out", out, *METHOD, "--shard", "0/4", "--overwrite")
    assert r.code == 0, r.stderr
    assert "2 fused, 0 failed, 0 skipped" in r.stderr
    assert (out / RECORD).read_bytes() == record
    assert_one_error(
        run("fuse", "--ir", ir, "--vi", vi, "--out", out, "--method", "average", "--shard", "0/4", "--overwrite"),
        f'{out}: its fused images were made with method = "laplacian", not "average"; use another --out',
    )


def test_masks_shards_fill_one_cache(pairs: tuple[Path, Path], tmp_path: Path) -> None:
    ir, _ = pairs
    out = tmp_path / "cache"
    for i in range(2):
        r = run("masks", "--images", ir, "--out", out, "--shard", f"{i}/2")
        assert r.code == 0, r.stderr
        assert f"note: shard {i}/2: 4 of 8 images" in r.stderr.splitlines()
        assert "4 computed, 0 failed, 0 skipped" in r.stderr
    (index,) = out.glob("*/index.csv")
    assert _stems_of_index(index) == STEMS
    r = run("masks", "--images", ir, "--out", out)  # unsharded: everything is cached already
    assert "0 computed, 0 failed, 8 skipped" in r.stderr


def _stems_of_index(index: Path) -> list[str]:
    with open(index, newline="") as fh:
        return [row["stem"] for row in csv.DictReader(fh)]


def test_videos_and_sequences_are_not_sharded(
    pairs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ir, vi = pairs
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert_one_error(
        run("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "fused.mp4"),
        "RANK=1, WORLD_SIZE=2: a video is fused whole, not sharded (give --shard 0/1 to fuse it in every task)",
    )
    assert_one_error(
        run("eval", "--ir", ir, "--vi", vi, "--fused", ir, "--temporal", "--shard", "1/2"),
        "--shard 1/2: sequences are evaluated whole, not sharded (give --shard 0/1 in every task)",
    )
    assert not list(tmp_path.iterdir())
