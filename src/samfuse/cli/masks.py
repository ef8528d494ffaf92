"""``samfuse masks``: compute semantic masks for a folder of images into the on-disk mask cache.

Resumable: an image whose masks are already in ``--out`` for the same provider, model and parameters is
skipped. Shardable (``--shard INDEX/COUNT`` or the scheduler's environment, docs/scale-out.md): the shards of one
folder share ``--out`` (entries are written atomically, ``index.csv`` under a lock).
Each image's failure is one line; the summary is ``N computed, M failed, K skipped``.
"""

from __future__ import annotations

import csv
import io as _io
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from samfuse.cli.common import build_provider, fail, get_shard, shard_option, take_shard, warn
from samfuse.cli.report import BatchReport
from samfuse.io import InputError, atomic_write, read_raw, write_image
from samfuse.io.pairing import index_by_stem, scan_images
from samfuse.io.paths import check_output_dir

_SAM_ONLY = ("checkpoint", "model", "preset")

# per-worker state (set by _init_worker in each process)
_WORKER: dict[str, Any] = {}


def _init_worker(name: str, options: dict[str, Any], threads: int) -> None:
    import torch

    from samfuse.semantics import get_provider

    torch.set_num_threads(max(1, threads))
    _WORKER["provider"] = get_provider(name, **options)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if isinstance(err, InputError) else f"{type(err).__name__}: {text}"


def _compute(path: Path, out: Path, top_k: int | None, preview: Path | None) -> tuple[str, int, str]:
    """Worker body: read, compute, store, preview.  Returns ``(image sha256, number of masks, "")`` or
    ``("", 0, one-line error)`` (errors are returned, not raised, so they stay one line)."""
    from samfuse.semantics import MaskCache, image_hash, overlay

    try:
        provider = _WORKER["provider"]
        image = read_raw(path)
        key = image_hash(image)
        masks = provider.generate_top(image, top_k)  # only the kept masks are built at full size
        MaskCache(out).put(key, provider, masks, top_k)
        if preview is not None:
            write_image(preview / f"{path.stem}.png", overlay(image, masks.top(top_k)), overwrite=True)
        return key, min(len(masks), top_k or len(masks)), ""
    except Exception as err:  # one line per image, never a traceback
        return "", 0, _one_line(err)


def _stored_count(entry: Path) -> int:
    """Number of masks in a cache entry, read from the file's header only."""
    import numpy as np

    with np.load(entry) as data:
        return int(data["shape"][0])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), so runs sharing a cache (shards) read-merge-write one at a time;
    no lock where ``fcntl`` is missing (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_index(folder: Path, rows: dict[str, tuple[str, str, int]]) -> None:
    """``index.csv`` in the provider folder: ``stem,source,image_sha256,masks`` (merged over runs and shards)."""
    index = folder / "index.csv"
    with _locked(folder / ".index.lock"):
        merged: dict[str, tuple[str, str, int]] = {}
        if index.exists():
            with open(index, newline="") as f:
                for row in csv.DictReader(f):
                    merged[row["stem"]] = (row["source"], row["image_sha256"], int(row["masks"]))
        merged.update(rows)
        buf = _io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["stem", "source", "image_sha256", "masks"])
        for stem in sorted(merged):
            writer.writerow([stem, *merged[stem]])
        data = buf.getvalue().encode()
        atomic_write(index, lambda fh: fh.write(data))


def _list_callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from samfuse.semantics import list_providers

    for name, description in list_providers().items():
        click.echo(f"{name:10s} {description}")
    ctx.exit(0)


@click.command("masks")
@click.option(
    "--list",
    "list_",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_callback,
    help="List the mask providers and exit.",
)
@click.option("--images", required=True, type=click.Path(path_type=Path), help="Folder of images, or one image.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Mask cache folder (created).")
@click.option(
    "--masks", "provider_name", default=None, metavar="PROVIDER", help="Mask provider (see --list; default regions)."
)
@click.option("--provider", "old_provider", default=None, hidden=True, help="Old name of --masks.")
@click.option(
    "--mask-checkpoint", "checkpoint", type=click.Path(path_type=Path), default=None,
    help="SAM/MobileSAM state dict (--masks sam).",
)  # fmt: skip
@click.option("--checkpoint", "old_checkpoint", type=click.Path(path_type=Path), default=None, hidden=True)
@click.option(
    "--model",
    type=click.Choice(["vit_t", "vit_b", "vit_l", "vit_h"]),
    default=None,
    help="SAM model (sam; default: inferred from the checkpoint).",
)
@click.option(
    "--preset",
    type=click.Choice(["fast", "default", "sage"]),
    default=None,
    help="SAM generator preset (sam; default fast). sage takes 0.7-0.9 h per image on a 2-core CPU.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (sam).")
@click.option(
    "--top-k", default=20, show_default=True, type=click.IntRange(min=0), help="Keep the K largest masks (0 = all)."
)
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--preview", type=click.Path(path_type=Path), default=None, help="Write PNG overlays here.")
@click.option("--mask-param", "params", multiple=True, metavar="KEY=VALUE", help="Provider option (repeatable).")
@click.option("--param", "old_params", multiple=True, metavar="KEY=VALUE", hidden=True, help="Old --mask-param.")
@shard_option("images")
def masks_command(
    images: Path,
    out: Path,
    provider_name: str | None,
    old_provider: str | None,
    checkpoint: Path | None,
    old_checkpoint: Path | None,
    model: str | None,
    preset: str | None,
    device: str,
    top_k: int,
    jobs: int,
    preview: Path | None,
    params: tuple[str, ...],
    old_params: tuple[str, ...],
    shard: str | None,
) -> None:
    """Compute masks for every image of a folder into a resumable on-disk cache (see docs/semantics.md).

    The options are spelled as in `samfuse fuse`: --masks, --mask-checkpoint, --mask-param (the old --provider,
    --checkpoint and --param still work).

    \b
    Examples:
      samfuse masks --images MSRS/ir --out masks/
      samfuse masks --images MSRS/vi --out masks/ --preview preview/
      samfuse masks --images MSRS/ir --out masks/ --masks thermal
    """
    from samfuse.assembly import DEFAULT_MASKS, MaskSpec
    from samfuse.options import split_key_values
    from samfuse.semantics import (
        MaskCache,
        image_hash,
        list_providers,
        overlay,
    )

    for new, old, name in ((provider_name, old_provider, "--provider"), (checkpoint, old_checkpoint, "--checkpoint")):
        if new is not None and old is not None:
            fail(f"{name} is the old name of --{'masks' if name == '--provider' else 'mask-checkpoint'}; give one")
    provider_name = provider_name or old_provider or DEFAULT_MASKS
    checkpoint = checkpoint if checkpoint is not None else old_checkpoint
    try:  # typed by the provider's annotations when it is built
        options: dict[str, Any] = split_key_values((*old_params, *params), "--mask-param")
    except InputError as err:
        fail(str(err))
    if provider_name == "sam":
        options.update({"model": model, "preset": preset or "fast", "device": device})
    else:
        given = [f"--{k}" for k, v in zip(_SAM_ONLY, (checkpoint, model, preset), strict=True) if v is not None]
        given = ["--mask-checkpoint" if g == "--checkpoint" else g for g in given]
        if given:
            fail(f"{', '.join(given)}: only for --masks sam (not {provider_name})")
        if device != "cpu":
            fail(f"--device: only for --masks sam (not {provider_name})")
    if provider_name not in list_providers():
        fail(f"unknown mask provider {provider_name!r}; available: {', '.join(list_providers())}")  # before any scan
    shard_ = get_shard(shard)
    try:
        if images.is_file():
            files = [images]
        else:
            scan = scan_images(images)
            by_stem, _, notes = index_by_stem(scan.files)  # one stem, one index row and one preview
            for line in scan.notes + notes:
                warn(line)
            files = sorted(by_stem.values(), key=lambda p: (p.stem, p.suffix))
        check_output_dir(out, {"--images": images})
        if preview is not None:
            check_output_dir(preview, {"--images": images}, option="--preview")
    except InputError as err:
        fail(str(err))
    if not files:
        fail(f"{images}: no images found")
    files = take_shard(shard_, files, lambda p: p.stem, "images")
    mask = MaskSpec(provider_name, options, checkpoint)
    provider = build_provider(mask, device)
    if checkpoint is not None:  # the worker processes build the same provider from its options
        options.update({"checkpoint": Path(checkpoint), "device": device})

    limit = top_k or None
    cache = MaskCache(out)
    folder = cache.folder(provider)
    report = BatchReport("computed")
    index: dict[str, tuple[str, str, int]] = {}
    todo: dict[Path, str] = {}  # path -> image sha256
    started = time.time()
    bar = tqdm(total=len(files), unit="img", desc=f"masks {provider_name}", dynamic_ncols=True)
    for path in files:  # skip what is cached (reading + hashing is cheap next to any provider)
        try:
            image = read_raw(path)
            key = image_hash(image)
            cached = cache.get(key, provider, limit)
        except InputError as err:
            report.failed(path.name, str(err))
            bar.update()
            continue
        if cached is None:
            todo[path] = key
            continue
        index[path.stem] = (str(path), key, len(cached))
        if preview is not None and not (preview / f"{path.stem}.png").exists():
            write_image(preview / f"{path.stem}.png", overlay(image, cached), overwrite=True)
        report.skipped(path.name)
        bar.update()

    recorded: set[Path] = set()

    def record(path: Path, result: tuple[str, int, str]) -> None:
        recorded.add(path)
        key, n, error = result
        if error:
            report.failed(path.name, error)
        else:
            index[path.stem] = (str(path), key, n)
            report.done(path.name)
        bar.update()

    try:
        if todo and jobs == 1:
            _WORKER["provider"] = provider
            for path in todo:
                record(path, _compute(path, out, limit, preview))
        elif todo:
            threads = max(1, (os.cpu_count() or 1) // jobs)
            pool = ProcessPoolExecutor(
                max_workers=min(jobs, len(todo)),
                mp_context=get_context("spawn"),  # no fork of a process that may hold torch threads
                initializer=_init_worker,
                initargs=(provider_name, options, threads),
            )
            try:
                futures: dict[Future[tuple[str, int, str]], Path] = {
                    pool.submit(_compute, p, out, limit, preview): p for p in todo
                }
                for fut in as_completed(futures):
                    try:
                        record(futures[fut], fut.result())
                    except Exception as err:  # a worker died (e.g. out of memory)
                        record(futures[fut], ("", 0, _one_line(err)))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # running tasks end (or die with Ctrl-C): exact count
                raise
            pool.shutdown(wait=True)
    except KeyboardInterrupt:
        # Cache entries are written atomically: what exists is complete, and a rerun skips it. Count what was
        # stored in this run, including entries whose worker finished while the interrupt was being handled.
        for path, key in todo.items():
            entry = cache.path(key, provider)
            if path not in recorded and entry.exists() and entry.stat().st_mtime >= started:
                index[path.stem] = (str(path), key, _stored_count(entry))
                report.done(path.name)
        bar.close()
        if index:
            _write_index(folder, index)
        click.echo(f"interrupted: {report.summary()} so far; run again to continue", err=True)
        raise SystemExit(130) from None
    bar.close()
    if index:
        _write_index(folder, index)
    click.echo(f"masks in {folder}", err=True)
    click.echo(report.summary(), err=True)
    raise SystemExit(report.exit_code)
