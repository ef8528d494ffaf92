"""Batch building blocks shared by the commands: per-item bookkeeping and the fusion loop.

:class:`BatchReport` counts done / failed / skipped items and prints one line per failure; :func:`fuse_into` fuses
a list of pairs into ``OUT/<stem>.png`` (atomic writes, existing outputs skipped, I/O in worker threads). Used by
``samfuse fuse``, ``samfuse eval --data``, ``samfuse demo`` and, through :mod:`samfuse.fusing`, ``samfuse bench``
and ``samfuse robustness``. :func:`fusion_record` is what fused images carry to be reused
(:mod:`samfuse.io.provenance`).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from samfuse.io import InputError, Pair, write_image
from samfuse.io.provenance import normalise, weights_id

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline
    from samfuse.semantics.base import MaskProvider


#: The method `samfuse fuse`, `samfuse demo`, `samfuse.fuse` and `FusionPipeline` use when none is named: the
#: winner of the rank-sum rule (:mod:`samfuse.selection`) on the recorded validation table
#: (``benchmarks/results/validation.json``); ``tests/test_default_method.py`` re-checks it.
DEFAULT_METHOD = "sgdfuse-stage1"


class BatchReport:
    """Counts done / failed / skipped items of a batch command.

    ``failed`` prints ``error: <name>: <reason>`` on stderr as one line (through ``tqdm.write`` so a progress
    bar is not broken). ``summary()`` gives ``"N <noun>, M failed, K skipped"``; ``exit_code`` is 1 if anything
    failed, else 0.
    """

    def __init__(self, noun: str = "fused") -> None:
        self.noun = noun
        self.done_items: list[str] = []
        self.failed_items: list[tuple[str, str]] = []
        self.skipped_items: list[str] = []

    def done(self, name: str) -> None:
        self.done_items.append(name)

    def failed(self, name: str, reason: str) -> None:
        line = " ".join(f"{name}: {reason}".split()) if name else " ".join(str(reason).split())
        self.failed_items.append((name, reason))
        tqdm.write(f"error: {line}", file=sys.stderr)

    def skipped(self, name: str) -> None:
        self.skipped_items.append(name)

    def summary(self) -> str:
        return f"{len(self.done_items)} {self.noun}, {len(self.failed_items)} failed, {len(self.skipped_items)} skipped"

    @property
    def exit_code(self) -> int:
        return 1 if self.failed_items else 0


#: Worker threads that decode inputs and encode/write outputs while the method runs (OpenCV releases the GIL).
IO_THREADS = 2


def fuse_into(
    pipeline: FusionPipeline,
    pairs: Sequence[Pair],
    out: Path,
    report: BatchReport,
    *,
    overwrite: bool,
    desc: str,
    io_threads: int = IO_THREADS,
) -> None:
    """Fuse each pair into ``out/<stem>.png`` (atomic writes), recording done / failed / skipped in ``report``.

    An existing output is skipped unless ``overwrite``. A bad pair is one line in the report, never a traceback,
    and the other pairs go on. Decoding of the next pairs and PNG encoding/writing of finished ones run in
    ``io_threads`` worker threads (a few pairs ahead at most), so the method is not left waiting on I/O; each
    pair is still fused, reported and written under its own name, whatever the order the threads finish in.
    On Ctrl-C, reads not yet started are cancelled, writes already under way are finished (and counted), and
    ``KeyboardInterrupt`` is raised again: every output on disk is complete.
    """
    out.mkdir(parents=True, exist_ok=True)
    todo: list[Pair] = []
    for pair in pairs:
        if (out / f"{pair.stem}.png").exists() and not overwrite:
            report.skipped(pair.stem)
        else:
            todo.append(pair)
    ahead = max(1, 2 * io_threads)
    readers = ThreadPoolExecutor(io_threads, thread_name_prefix="samfuse-read")
    writers = ThreadPoolExecutor(io_threads, thread_name_prefix="samfuse-write")
    reads: deque[tuple[Pair, Future]] = deque()
    writes: deque[tuple[Pair, Future]] = deque()

    def settle(block: bool) -> None:
        """Record finished writes (all of them if ``block``, else the finished ones at the head)."""
        while writes and (block or writes[0][1].done()):
            pair, fut = writes.popleft()
            try:
                fut.result()
            except InputError as err:
                report.failed(pair.stem, str(err))
            except Exception as err:  # e.g. disk full: one line, the batch goes on
                report.failed(pair.stem, f"{type(err).__name__}: {err}")
            else:
                report.done(pair.stem)

    queue = iter(todo)
    try:
        with tqdm(total=len(todo), unit="pair", desc=desc, dynamic_ncols=True) as bar:
            for _ in range(len(todo)):
                while len(reads) < ahead and (nxt := next(queue, None)) is not None:
                    reads.append((nxt, readers.submit(pipeline.read_pair, nxt)))
                pair, fut = reads.popleft()
                try:
                    fused = pipeline.fuse_pair(pair, fut.result())
                except InputError as err:
                    report.failed(pair.stem, str(err))
                except Exception as err:  # keep the batch going; one line, no traceback
                    report.failed(pair.stem, f"{type(err).__name__}: {err}")
                else:
                    target = out / f"{pair.stem}.png"
                    writes.append((pair, writers.submit(write_image, target, fused, overwrite=True)))
                    while len(writes) > ahead:  # bounded memory: wait for the oldest write
                        writes[0][1].exception()
                        settle(block=False)
                settle(block=False)
                bar.update()
    except KeyboardInterrupt:
        for _, fut in reads:
            fut.cancel()
        raise
    finally:
        readers.shutdown(wait=True, cancel_futures=True)
        settle(block=True)
        writers.shutdown(wait=True)


#: Where each method's builder finds its shipped weights when ``weights`` is None: (module, attribute), read at
#: call time from the module the builder itself reads, so a record always names the file actually loaded.
def shipped_weights(method: str) -> Path | None:
    """The weights file ``method`` loads when no ``--weights`` is given (None: it has none), from the named
    weights table (:func:`samfuse.models.pretrained.default_tag`)."""
    from samfuse.models.pretrained import default_tag

    tag = default_tag(method)
    return tag.path if tag is not None and tag.path.is_file() else None


def weights_file(method: str, weights: str | Path | None) -> Path | None:
    """The weights file a build of ``method`` with ``weights`` reads: ``weights`` itself (a weights name resolved
    to its file), or the shipped file."""
    from samfuse.models.pretrained import resolve

    return resolve(method, weights) if weights is not None else shipped_weights(method)


def mask_record(provider: MaskProvider) -> dict[str, Any]:
    """What masks depend on: provider name, model, parameters and version."""
    return {
        "provider": provider.name,
        "model": provider.model,
        "params": provider.params(),
        "version": provider.version,
    }


def fusion_record(
    method: str,
    weights: str | Path | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    masks: MaskProvider | None = None,
    color: str = "ycbcr",
    gray: bool = False,
    resize_to: str | None = None,
    ir_range: object = None,
    vi_range: object = None,
    backend: str = "torch",
    tile_pixels: int | None = -1,
) -> dict[str, Any]:
    """The provenance record of fused images (:mod:`samfuse.io.provenance`): method, sha256 of the weights file it
    loads (the shipped one when ``weights`` is None), its options, the masks (None for a method without), colour
    path, grey output, resizing, value ranges and backend; ``tile_pixels`` only when not the default (-1, the
    method's own budget), so records of folders fused before it was an option still match."""
    opts = dict(options or {})
    record: dict[str, Any] = {
        "method": method,
        "weights": weights_id(weights_file(method, weights)),
        "options": {k: opts[k] for k in sorted(opts)},
        "masks": None if masks is None else mask_record(masks),
        "color": color,
        "gray": bool(gray),
        "resize_to": resize_to,
        "ir_range": ir_range,
        "vi_range": vi_range,
        "backend": backend,
    }
    if tile_pixels != -1:
        record["tile_pixels"] = int(tile_pixels or 0)  # 0 and None both: never tile
    return normalise(record)
