"""``samfuse demo``: fuse the sample pairs shipped inside the package and draw the comparison figure.

The samples (``samfuse/samples/``, three small pairs: an MSRS night pair, a RoadScene pair, an MRI–PET pair;
sources and licences in ``samples/SAMPLES.md``) need no data folder, so this is the first command to try.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

from samfuse.assembly import PipelineSpec
from samfuse.batch import DEFAULT_METHOD, BatchReport, fuse_into
from samfuse.io import find_pairs, read_raw
from samfuse.io.provenance import RECORD, check_record

SAMPLES = "samples"


def sample_pairs(stack: ExitStack):  # type: ignore[no-untyped-def]
    """The shipped sample pairs (a :class:`PairSet`); the folder stays valid while ``stack`` is open."""
    root = stack.enter_context(resources.as_file(resources.files("samfuse") / SAMPLES))
    return find_pairs(Path(root) / "ir", Path(root) / "vi")


def run_demo(
    out: Path,
    spec: PipelineSpec | str | None = None,
    *,
    overwrite: bool = False,
    on_note: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[BatchReport, Path]:
    """Fuse the samples with the pipeline ``spec`` describes (a :class:`~samfuse.assembly.PipelineSpec`, or a method
    name; None: the default method) into ``out/fused/<stem>.png`` and write ``out/demo.jpg`` (rows = pairs; columns
    IR, visible, fused; zoomed inset of the most detailed IR region).

    Existing fused images are kept when ``out/fused/provenance.json`` says the same spec made them; made by another
    method or weights they are refused (:class:`~samfuse.io.provenance.ProvenanceError`, one line, before any
    work) unless ``overwrite``, which makes them again. A spec that cannot be built is one
    :class:`~samfuse.io.InputError` (:func:`samfuse.assembly.build`)."""
    from samfuse.assembly import build, pipeline_record
    from samfuse.figures import FigureRow, busiest_region, comparison_figure

    if not isinstance(spec, PipelineSpec):
        spec = PipelineSpec(spec or DEFAULT_METHOD)
    method = spec.method
    report = BatchReport("fused")
    folder = out / "fused"
    with ExitStack() as stack:
        pairs = sample_pairs(stack).pairs
        pipeline = build(spec, on_note=on_note, on_warning=on_warning)
        record = pipeline_record(pipeline)
        if overwrite:
            (folder / RECORD).unlink(missing_ok=True)
            for p in pairs:
                (folder / f"{p.stem}.png").unlink(missing_ok=True)
        has_outputs = any((folder / f"{p.stem}.png").exists() for p in pairs)
        check_record(folder, record, has_outputs=has_outputs, remedy="use another --out or add --overwrite")
        fuse_into(pipeline, pairs, folder, report, overwrite=False, desc=f"fuse {method}")
        rows = []
        for p in pairs:
            ir, vi = read_raw(p.ir), read_raw(p.vi)
            path = folder / f"{p.stem}.png"
            fused = read_raw(path) if path.exists() else None
            grey = ir if ir.ndim == 2 else ir[..., 0]
            rows.append(FigureRow(p.stem, [ir, vi, fused], busiest_region(grey)))
    figure = comparison_figure(
        out / "demo.jpg", ["IR / MRI", "visible / PET", method], rows, title=f"samfuse demo: {method}"
    )
    return report, figure
