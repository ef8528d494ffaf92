"""The bench loop: for each dataset × method, fuse (only what is missing), time, evaluate; then the downstream
checks (salience from the MSRS labels, AP of the user's detections).

Fused images live in ``OUT/fused/<method>/<dataset>/<stem>.png`` with ``provenance.json`` beside them (what made
them: method, sha256 of the weights, options, masks; :func:`samfuse.batch.fusion_record`). A rerun reuses them only
when its own record is the same (otherwise that column is refused in one line naming the difference), skips every
existing image (the method is not even built when nothing is missing) and takes the timing of the run that fused
them from ``OUT/timing.json``. Folders of fused images from outside samfuse join as ``NAME=DIR``
(``DIR/<dataset>/`` when that folder exists, else ``DIR`` itself, matched by stem). A method that cannot be built
(no weights, unknown name) is one refusal line and the rest of the bench goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from samfuse.assembly import BuildError, PipelineSpec, pipeline_record
from samfuse.data import get_dataset
from samfuse.evaluation import ImageResult, evaluate_pairs, evaluation_pool, index_fused, report_problems
from samfuse.fusing import FolderRun, fuse_and_evaluate
from samfuse.io import InputError, Pair, atomic_write, read_raw
from samfuse.io.provenance import RECORD, check_record, read_record

from .detection import APResult, average_precision
from .labels import MSRS_CLASSES, Box, read_yolo
from .salience import box_contrast, luma

Callback = Callable[[str], None]

#: The dataset whose labels drive the downstream checks, and where its labels are under the data root.
LABELLED = {"msrs": ("MSRS", "detection")}
INPUTS = ("IR", "VIS")


@dataclass(frozen=True)
class MethodSpec:
    """A column of the comparison: a registered method (``method@weights``) or an outside folder (``NAME=DIR``)."""

    name: str
    method: str | None = None
    weights: str | None = None
    folder: Path | None = None

    @property
    def external(self) -> bool:
        return self.folder is not None


def weights_label(weights: str) -> str:
    """How a column names its weights: a weights name as given (``sage.authors``), a file by its stem."""
    path = Path(weights)
    is_file = "/" in weights or path.suffix.lower() in (".pt", ".pth", ".safetensors", ".onnx")
    return path.stem if is_file else weights


def parse_methods(text: str) -> list[MethodSpec]:
    """``"average,sage-student@w.pt"`` → specs; the name is the method's, or ``method@<weights>`` (the weights name,
    or the file's stem: :func:`weights_label`) when one method appears with several weights."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    specs = []
    counts = Counter(t.partition("@")[0] for t in items)
    for t in items:
        method, sep, weights = t.partition("@")
        if sep and not weights:
            raise ValueError(f"{t!r}: METHOD@WEIGHTS needs a weights file or name after '@'")
        name = method if counts[method] == 1 or not sep else f"{method}@{weights_label(weights)}"
        specs.append(MethodSpec(name, method, weights or None))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"a method is listed twice: {text}")
    return specs


def parse_named(items: Sequence[str], option: str) -> dict[str, Path]:
    """``NAME=DIR`` items → ``{NAME: Path(DIR)}``; ValueError naming the option for a malformed item."""
    out: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ValueError(f"{option} {item!r}: expected NAME=DIR")
        if name.strip() in out:
            raise ValueError(f"{option}: {name.strip()!r} given twice")
        out[name.strip()] = Path(folder.strip())
    return out


@dataclass
class Timing:
    """How long fusing took: pairs fused in the timed run, wall seconds, peak RSS; params of the model."""

    pairs: int
    seconds: float
    peak_bytes: int
    increase_bytes: int
    params: int | None
    size: str

    @property
    def per_pair(self) -> float:
        return self.seconds / self.pairs if self.pairs else float("nan")


@dataclass
class Cell:
    """One method on one dataset: the evaluated images, the fusion counts, the timing, or why it is absent."""

    method: str
    dataset: str
    results: list[ImageResult] = field(default_factory=list)
    fused: int = 0
    skipped: int = 0
    failed: int = 0
    timing: Timing | None = None
    refused: str | None = None
    folder: Path | None = None
    record: dict[str, Any] | None = None

    @property
    def evaluated(self) -> list[ImageResult]:
        return [r for r in self.results if r.evaluated]


@dataclass
class SalienceRow:
    """Mean target-to-ring contrast (grey levels) of one image column, one class and day or night."""

    column: str
    cls: str
    period: str
    n: int
    contrast: float
    ir: float
    vis: float


@dataclass
class BenchConfig:
    """Everything ``samfuse bench`` takes (see the CLI for the meaning of each option)."""

    methods: list[MethodSpec]
    datasets: list[str]
    out: Path
    convention: str = "cddfuse"
    metrics: list[str] | None = None
    jobs: int = 1
    data_root: Path | None = None
    #: what every column's pipeline is built from (device, ``options``, masks, seed); each method takes the options
    #: it has (:func:`column_spec`)
    spec: PipelineSpec = field(default_factory=PipelineSpec)
    detections: dict[str, Path] = field(default_factory=dict)
    salience_labels: str = "infrared"
    detection_labels: str = "fusion"
    figure_pairs: int = 3
    progress: bool = True


@dataclass
class BenchResult:
    """What the report is made of."""

    config: BenchConfig
    metrics: list[str]
    pairs: dict[str, list[Pair]]
    cells: dict[tuple[str, str], Cell]
    salience: list[SalienceRow] = field(default_factory=list)
    detection: dict[str, APResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    labels_root: Path | None = None
    exit_code: int = 0

    def fused_folder(self, method: str, dataset: str) -> Path | None:
        cell = self.cells.get((method, dataset))
        return None if cell is None or cell.refused else cell.folder


def _size_text(pairs: Sequence[Pair]) -> str:
    """The most common IR size of a dataset's pairs (``640x480``), or ``varies (N sizes)``."""
    import cv2

    sizes = Counter()
    for p in pairs:
        img = cv2.imread(str(p.ir), cv2.IMREAD_UNCHANGED)
        if img is not None:
            sizes[f"{img.shape[1]}x{img.shape[0]}"] += 1
    if not sizes:
        return "?"
    if len(sizes) == 1:
        return next(iter(sizes))
    return f"varies ({len(sizes)} sizes, most common {sizes.most_common(1)[0][0]})"


class _Timings:
    """``OUT/timing.json``: the timing of the run that fused each method × dataset (kept for reruns)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            self.data = {}

    def get(self, method: str, dataset: str) -> Timing | None:
        d = self.data.get(f"{method}/{dataset}")
        return Timing(**d) if d else None

    def put(self, method: str, dataset: str, t: Timing) -> None:
        self.data[f"{method}/{dataset}"] = t.__dict__
        text = json.dumps(self.data, indent=1, sort_keys=True).encode()
        atomic_write(self.path, lambda fh: fh.write(text))


def column_spec(spec: MethodSpec, cfg: BenchConfig) -> PipelineSpec:
    """The pipeline spec of a registered method's column: the bench's spec with the method, its weights and those
    of the bench's options the method takes."""
    from samfuse.models import list_methods, method_options

    method = spec.method or spec.name
    options = dict(cfg.spec.options)
    if method in list_methods():
        known = method_options(method)
        options = {k: v for k, v in options.items() if k.replace("-", "_") in known}
    return cfg.spec.replace(method=method, weights=spec.weights, options=options)


def _build(spec: MethodSpec, cfg: BenchConfig) -> Any:
    """The pipeline of a registered method's column (:func:`samfuse.assembly.build`)."""
    from samfuse.assembly import build

    return build(column_spec(spec, cfg))


def _record(spec: MethodSpec, cfg: BenchConfig, uses_masks: bool) -> dict[str, Any]:
    """The provenance record of a column's fused images when the method is not built (nothing to fuse)."""
    from samfuse.assembly import build_provider

    column = column_spec(spec, cfg)
    return column.record(build_provider(column.masks, column.device) if uses_masks else None)


def _params(pipeline: Any) -> int | None:
    try:
        return int(sum(p.numel() for p in pipeline.method.parameters()))
    except Exception:
        return None


def _keep_timing(cell: Cell, timings: _Timings, params: int | None, size: str, run: FolderRun) -> None:
    """After fusing a column (before evaluating it): the timing of this run when it fused anything (kept in
    ``OUT/timing.json``), else the one kept from the run that fused the images."""
    if run.fused:
        cell.timing = Timing(run.fused, run.seconds, run.peak_bytes, run.increase_bytes, params, size)
        timings.put(cell.method, cell.dataset, cell.timing)
    if cell.timing is None:
        cell.timing = timings.get(cell.method, cell.dataset)


def _run_cells(
    cfg: BenchConfig,
    result: BenchResult,
    names: list[str],
    timings: _Timings,
    pool: Any,
    on_error: Callback,
    on_warning: Callback,
    on_note: Callback,
) -> bool:
    """Fuse, time and evaluate every dataset × method into ``result.cells``; True if anything failed."""
    refused: dict[str, str] = {}
    failed_any = False
    for ds in cfg.datasets:
        dataset = get_dataset(ds, cfg.data_root)
        pairs = dataset.pairs
        result.pairs[ds] = pairs
        if ds in LABELLED and result.labels_root is None:
            folder = dataset.root.joinpath(*LABELLED[ds])
            if folder.is_dir():
                result.labels_root = folder
        size = _size_text(pairs)
        for spec in cfg.methods:
            cell = Cell(spec.name, ds)
            result.cells[(spec.name, ds)] = cell
            if spec.name in refused:
                cell.refused = refused[spec.name]
                continue
            if spec.external:
                assert spec.folder is not None
                folder = spec.folder / ds if (spec.folder / ds).is_dir() else spec.folder
                try:
                    index = index_fused(folder, on_warning)
                except InputError as err:
                    cell.refused = str(err)
                    on_error(f"{spec.name}: {err}")
                    failed_any = True
                    continue
                if not any(p.stem in index for p in pairs):
                    cell.refused = f"no fused image of {ds} in {folder}"
                    on_note(f"{spec.name}: {cell.refused}; left out of {ds}")
                    continue
                cell.folder = folder
                cell.results = evaluate_pairs(
                    pairs,
                    index,
                    cfg.convention,
                    names,
                    jobs=cfg.jobs,
                    fused_dir=folder,
                    desc=f"eval {spec.name} {ds}",
                    progress=cfg.progress,
                    pool=pool,
                )
                failed_any |= report_problems(cell.results, f"{spec.name}/{ds}", on_error, on_warning)
                continue
            folder = cfg.out / "fused" / spec.name / ds
            cell.folder = folder
            missing = [p for p in pairs if not (folder / f"{p.stem}.png").exists()]
            pipeline = None
            try:
                if missing:
                    pipeline = _build(spec, cfg)
                    cell.record = pipeline_record(pipeline)
                else:  # not built: the same method (compared below) uses masks iff its record names them
                    stored = read_record(folder / RECORD)
                    uses_masks = stored is not None and stored.get("masks") is not None
                    cell.record = _record(spec, cfg, uses_masks)
                check_record(folder, cell.record, has_outputs=len(missing) < len(pairs))
            except Exception as err:  # MissingWeightsError, unknown name, bad file, other provenance: one line
                if isinstance(err, BuildError):
                    reason = err.reason
                else:
                    reason = " ".join(str(err.args[0] if err.args else err).split())
                if pipeline is None and missing:
                    refused[spec.name] = reason  # the method cannot be built: the same on every dataset
                cell.refused = reason
                cell.folder = None
                on_error(f"{spec.name}: refused: {reason}")
                failed_any = True
                continue
            params = _params(pipeline) if pipeline is not None else None
            run = fuse_and_evaluate(
                pipeline,
                pairs,
                folder,
                cfg.convention,
                names,
                label=f"{spec.name}/{ds}",
                note=f"{spec.name} on {ds}",
                fuse_desc=f"fuse {spec.name} {ds}",
                eval_desc=f"eval {spec.name} {ds}",
                jobs=cfg.jobs,
                pool=pool,
                progress=cfg.progress,
                measure_memory=True,
                on_fused=partial(_keep_timing, cell, timings, params, size),
                on_error=on_error,
                on_warning=on_warning,
                on_note=on_note,
            )
            cell.fused, cell.skipped, cell.failed = run.fused, run.skipped, run.failed
            cell.results = run.results
            failed_any |= run.problems
    return failed_any


def run_bench(
    cfg: BenchConfig,
    *,
    on_error: Callback = print,
    on_warning: Callback = print,
    on_note: Callback = print,
) -> BenchResult:
    """Run the bench (see the module docstring); per-item problems are reported through the callbacks."""
    from samfuse.evaluation import resolve_metrics

    names = resolve_metrics(cfg.convention, cfg.metrics)
    timings = _Timings(cfg.out / "timing.json")
    result = BenchResult(cfg, names, {}, {})
    with ExitStack() as stack:
        pool = stack.enter_context(evaluation_pool(cfg.jobs)) if cfg.jobs > 1 else None
        failed_any = _run_cells(cfg, result, names, timings, pool, on_error, on_warning, on_note)
    if result.labels_root is not None and "msrs" in result.pairs:
        result.salience = salience_table(result, cfg.salience_labels, on_error)
    if cfg.detections:
        if result.labels_root is None or "msrs" not in result.pairs:
            on_warning("--detections: only MSRS has detection labels; add msrs to --data (detections ignored)")
        else:
            for name, folder in cfg.detections.items():
                try:
                    result.detection[name] = detection_ap(result, folder, cfg.detection_labels)
                except InputError as err:
                    on_error(f"--detections {name}: {err}")
                    failed_any = True
    result.exit_code = 1 if failed_any else 0
    return result


def _labels(result: BenchResult, label_set: str, pair: Pair, shape: tuple[int, ...]) -> list[Box]:
    assert result.labels_root is not None
    return read_yolo(result.labels_root / label_set / f"{pair.stem}.txt", shape[1], shape[0])


def salience_table(result: BenchResult, label_set: str, on_error: Callback) -> list[SalienceRow]:
    """Mean box contrast per column (IR, VIS, each method), class and day/night over the MSRS pairs."""
    pairs = result.pairs["msrs"]
    methods = [m.name for m in result.config.methods if result.fused_folder(m.name, "msrs") is not None]
    # per (column, class, period): contrasts of the boxes where every column could be measured
    acc: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    for pair in pairs:
        try:
            ir = luma(read_raw(pair.ir))
            vis = luma(read_raw(pair.vi))
            boxes = _labels(result, label_set, pair, ir.shape)
        except InputError as err:
            on_error(f"salience: {pair.stem}: {err}")
            continue
        if not boxes:
            continue
        fused: dict[str, np.ndarray] = {}
        for m in methods:
            folder = result.fused_folder(m, "msrs")
            assert folder is not None
            path = folder / f"{pair.stem}.png"
            if path.exists():
                try:
                    fused[m] = luma(read_raw(path))
                except InputError:
                    continue
        period = "night" if pair.stem.endswith("N") else "day" if pair.stem.endswith("D") else "?"
        for b in boxes:
            c_ir, c_vis = box_contrast(ir, b), box_contrast(vis, b)
            if c_ir is None or c_vis is None:
                continue
            cls = MSRS_CLASSES[b.cls] if 0 <= b.cls < len(MSRS_CLASSES) else str(b.cls)
            cols = {"IR": c_ir, "VIS": c_vis} | {
                m: c for m, img in fused.items() if img.shape == ir.shape and (c := box_contrast(img, b)) is not None
            }
            for col, c in cols.items():
                acc.setdefault((col, cls, period), []).append((c, c_ir, c_vis))
    rows = []
    order = {c: i for i, c in enumerate(["IR", "VIS", *methods])}
    for (col, cls, period), vals in sorted(acc.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], kv[0][2])):
        a = np.array(vals)
        rows.append(SalienceRow(col, cls, period, len(vals), *(float(a[:, i].mean()) for i in range(3))))
    return rows


def detection_ap(result: BenchResult, folder: Path, label_set: str) -> APResult:
    """AP of the YOLO predictions in ``folder/<stem>.txt`` against the MSRS ``label_set`` boxes."""
    import cv2

    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    truth, dets, sizes = {}, {}, {}
    for pair in result.pairs["msrs"]:
        img = cv2.imread(str(pair.ir), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        h, w = img.shape[:2]
        sizes[pair.stem] = (w, h)
        truth[pair.stem] = _labels(result, label_set, pair, img.shape)
        dets[pair.stem] = read_yolo(folder / f"{pair.stem}.txt", w, h, scores=True)
    return average_precision(truth, dets, sizes, MSRS_CLASSES)
