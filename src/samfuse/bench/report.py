"""``REPORT_DIR/report.md``, ``REPORT_DIR/values.csv`` and the figures of a bench run."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from samfuse.evaluation import metric_stats
from samfuse.figures import FigureRow, Region, busiest_region, comparison_figure, grow_region
from samfuse.io import atomic_write, read_raw
from samfuse.metrics import get_convention

from .labels import read_yolo
from .runner import BenchResult, Cell

DETECTION_NOTE = """\
The papers' downstream protocol (a YOLOv5 detector retrained on each method's fused images, and SegFormer
trained on MSRS segmentation labels) needs detector weights, training runs and segmentation labels that are not
available here (no GPU; the MSRS segmentation labels are not in the data folder). No library here ships a
detector that finds MSRS-sized pedestrians usefully (the project's issue tracker reports OpenCV's HOG people
detectors at person AP@0.5 of about 0.01 to 0.07 on these images; samfuse has not re-measured that), so no
detector is run by samfuse. Bring your own: run your detector on each
fused folder (`REPORT_DIR/fused/<method>/msrs/`) and on the IR/visible inputs, save YOLO-format predictions
(`<stem>.txt`, one box per line: `class cx cy w h confidence`, normalised to [0, 1]; classes 0 person,
1 bicycle, 2 car), and pass one folder per method or input:

```bash
samfuse bench --methods average,laplacian --data msrs --out REPORT_DIR \\
    --detections average=runs/average/labels --detections laplacian=runs/laplacian/labels \\
    --detections IR=runs/ir/labels
```

AP@0.5 and AP@0.5:0.95 are then computed by pycocotools against the MSRS `fusion` boxes (`--detection-labels`)
and appear in this section."""


def _fmt(v: float, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if abs(v) >= 1000:
        return f"{v:.1f}"
    if abs(v) >= 100:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def _stats(cell: Cell, metric: str) -> tuple[float, float, int]:
    return metric_stats(cell.evaluated, metric)


def _ranks(means: dict[str, float], higher: bool) -> dict[str, float]:
    """Rank 1 = best; ties share the mean of their ranks; methods without a value get no rank."""
    items = [(m, v) for m, v in means.items() if not math.isnan(v)]
    items.sort(key=lambda kv: -kv[1] if higher else kv[1])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1][1] == items[i][1]:
            j += 1
        for k in range(i, j + 1):
            ranks[items[k][0]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def dataset_table(result: BenchResult, dataset: str) -> tuple[str, dict[str, float]]:
    """Markdown table of one dataset (mean ± std, best per column in bold, rank) and the mean rank per method."""
    conv = get_convention(result.config.convention)
    cells = [c for (m, d), c in result.cells.items() if d == dataset and not c.refused and c.evaluated]
    if not cells:
        return "_no method could be evaluated on this dataset_", {}
    stats = {c.method: {m: _stats(c, m) for m in result.metrics} for c in cells}
    rank_sum: dict[str, list[float]] = {c.method: [] for c in cells}
    best: dict[str, set[str]] = {}
    for metric in result.metrics:
        higher = conv.metrics[metric].higher_is_better
        means = {m: s[metric][0] for m, s in stats.items()}
        ranks = _ranks(means, higher)
        best[metric] = {m for m, r in ranks.items() if r == min(ranks.values())} if ranks else set()
        for m, r in ranks.items():
            rank_sum[m].append(r)
    mean_rank = {m: float(np.mean(r)) for m, r in rank_sum.items() if r}
    overall = _ranks({m: -v for m, v in mean_rank.items()}, higher=True)
    arrows = {m: "↑" if conv.metrics[m].higher_is_better else "↓" for m in result.metrics}
    head = "| method | n | " + " | ".join(f"{m} {arrows[m]}" for m in result.metrics) + " | mean rank | rank |"
    lines = [head, "|---|---:|" + "---:|" * len(result.metrics) + "---:|---:|"]
    for c in sorted(cells, key=lambda c: overall.get(c.method, 1e9)):
        parts = []
        for metric in result.metrics:
            mean, std, n = stats[c.method][metric]
            text = f"{_fmt(mean)} ± {_fmt(std)}" if n else "–"
            parts.append(f"**{text}**" if c.method in best[metric] and n else text)
        r = overall.get(c.method)
        lines.append(
            f"| `{c.method}` | {len(c.evaluated)} | "
            + " | ".join(parts)
            + f" | {_fmt(mean_rank.get(c.method, math.nan), 2)} | {'' if r is None else f'{r:g}'} |"
        )
    return "\n".join(lines), overall


def speed_table(result: BenchResult) -> str:
    """Seconds per pair at each dataset's size, parameters, peak memory."""
    lines = [
        "| method | dataset | size | pairs timed | s / pair | parameters | peak RSS (MiB) | RSS added (MiB) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for (m, d), c in result.cells.items():
        t = c.timing
        if c.refused or t is None:
            continue
        params = "–" if t.params is None else f"{t.params:,}"
        lines.append(
            f"| `{m}` | {d} | {t.size} | {t.pairs} | {t.per_pair:.4f} | {params} | "
            f"{t.peak_bytes / 2**20:.0f} | {t.increase_bytes / 2**20:.0f} |"
        )
    return "\n".join(lines) if len(lines) > 2 else "_no samfuse method was timed (outside folders only)_"


def salience_markdown(result: BenchResult) -> str:
    """One row per class and day/night; IR and VIS contrast, then per method: contrast (÷ IR, ÷ VIS)."""
    columns: list[str] = []
    groups: dict[tuple[str, str], dict[str, object]] = {}
    for r in result.salience:
        if r.column not in columns:
            columns.append(r.column)
        groups.setdefault((r.cls, r.period), {})[r.column] = r
    methods = [c for c in columns if c not in ("IR", "VIS")]
    head = "| class | day/night | boxes | IR | VIS | " + " | ".join(f"`{m}` (÷ IR, ÷ VIS)" for m in methods) + " |"
    lines = [head, "|---|---|---:|---:|---:|" + "---:|" * len(methods)]
    for (cls, period), row in groups.items():
        ir, vis = row.get("IR"), row.get("VIS")
        if ir is None or vis is None:
            continue
        cells = []
        for m in methods:
            r = row.get(m)
            cells.append("–" if r is None else f"{r.contrast:.2f} ({r.contrast / r.ir:.2f}, {r.contrast / r.vis:.2f})")
        lines.append(
            f"| {cls} | {period} | {ir.n} | {ir.contrast:.2f} | {vis.contrast:.2f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def detection_markdown(result: BenchResult) -> str:
    from .labels import MSRS_CLASSES

    head = " | ".join(f"{c} AP50 | {c} AP" for c in MSRS_CLASSES)
    lines = [
        f"| detections | images | boxes | {head} | mAP@0.5 | mAP@0.5:0.95 |",
        "|---|---:|---:|" + "---:|" * (2 * len(MSRS_CLASSES) + 2),
    ]
    for name, ap in result.detection.items():
        cells = " | ".join(f"{_fmt(ap.ap50[c], 3)} | {_fmt(ap.ap[c], 3)}" for c in MSRS_CLASSES)
        lines.append(
            f"| `{name}` | {ap.images} | {ap.detections} | {cells} | {_fmt(ap.map50, 3)} | {_fmt(ap.map, 3)} |"
        )
    return "\n".join(lines)


def _figure_rows(result: BenchResult, dataset: str, methods: Sequence[str]) -> list[FigureRow]:
    """A few pairs: on MSRS the night pairs with the most IR-labelled people (zoom on the largest), else evenly
    spaced pairs zoomed on their most detailed IR region."""
    pairs = result.pairs[dataset]
    k = min(result.config.figure_pairs, len(pairs))
    chosen: list[tuple[object, Region | None]] = []
    if dataset == "msrs" and result.labels_root is not None:
        scored = []
        for p in pairs:
            boxes = read_yolo(result.labels_root / "infrared" / f"{p.stem}.txt", 640, 480)
            people = [b for b in boxes if b.cls == 0]
            if people:
                big = max(people, key=lambda b: b.w * b.h)
                scored.append((p.stem.endswith("N"), len(people), p, big))
        scored.sort(key=lambda t: (not t[0], -t[1], t[2].stem))
        for _, _, p, big in scored[:k]:
            chosen.append((p, None if big is None else (big.x, big.y, big.w, big.h)))
    if len(chosen) < k:
        idx = np.linspace(0, len(pairs) - 1, k).round().astype(int)
        for i in idx:
            if all(c[0] is not pairs[i] for c in chosen) and len(chosen) < k:
                chosen.append((pairs[i], None))
    rows = []
    for p, box in chosen:
        ir = read_raw(p.ir)  # type: ignore[attr-defined]
        vi = read_raw(p.vi)  # type: ignore[attr-defined]
        ir8 = ir if ir.dtype == np.uint8 else (ir >> 8).astype(np.uint8)
        vi8 = vi if vi.dtype == np.uint8 else (vi >> 8).astype(np.uint8)
        grey = ir8 if ir8.ndim == 2 else ir8[..., 0]
        if box is not None:
            x, y, w, h = box
            sx, sy = grey.shape[1] / 640, grey.shape[0] / 480
            region = grow_region((int(x * sx), int(y * sy), int((x + w) * sx), int((y + h) * sy)), grey.shape)
        else:
            region = busiest_region(grey)
        images: list[np.ndarray | None] = [grey if ir8.ndim == 2 else ir8, vi8]
        for m in methods:
            folder = result.fused_folder(m, dataset)
            path = None if folder is None else next(folder.glob(f"{p.stem}.*"), None)  # type: ignore[attr-defined]
            try:
                images.append(None if path is None else read_raw(path))
            except Exception:
                images.append(None)
        rows.append(FigureRow(p.stem, images, region))  # type: ignore[attr-defined]
    return rows


def write_report(result: BenchResult, command: str, machine: str, wall_s: float | None = None) -> Path:
    """Write report.md, values.csv and figures/<dataset>.jpg under the report folder; returns report.md."""
    cfg = result.config
    out = cfg.out
    conv = get_convention(cfg.convention)
    lines = [
        "# samfuse bench report",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine}.",
        "",
        f"Metrics: `{conv.name}` convention ({', '.join(result.metrics)}); ↑ higher is better, ↓ lower is better. "
        "Mean ± population standard deviation over the evaluated images; the best mean per column in **bold**; "
        "`mean rank` is the method's rank averaged over the metrics, `rank` orders the methods by it.",
        "",
    ]
    if wall_s is not None:
        lines += [f"Wall time of this run: {wall_s:.1f} s (fusion skipped where outputs already existed).", ""]
    refused = {c.method: c.refused for c in result.cells.values() if c.refused and not c.folder}
    for m, why in refused.items():
        lines += [f"- `{m}` left out: {why}"]
    if refused:
        lines.append("")
    methods = [s.name for s in cfg.methods]
    for ds, pairs in result.pairs.items():
        table, _ = dataset_table(result, ds)
        lines += [f"## {ds} ({len(pairs)} pairs)", "", table, ""]
        shown = [m for m in methods if result.fused_folder(m, ds) is not None]
        rows = _figure_rows(result, ds, shown)
        if rows:
            fig = comparison_figure(
                out / "figures" / f"{ds}.jpg",
                ["IR", "VIS", *shown],
                rows,
                title=f"{ds}: IR, visible and each method (inset: the framed region, enlarged)",
            )
            zoom = (
                "the largest IR-labelled person"
                if ds == "msrs" and result.labels_root
                else "the most detailed IR window"
            )
            lines += [
                f"![{ds}: qualitative comparison](figures/{fig.name})",
                "",
                f"*{ds}: pairs {', '.join(r.label for r in rows)}; inset: {zoom}, the same region in every column.*",
                "",
            ]
    lines += [
        "## Speed",
        "",
        "Seconds per pair: wall time of the fusion loop (decoding, method, colour, PNG encoding and writing, with "
        "samfuse's two I/O threads) divided by the pairs it fused, at the dataset's size, measured when the "
        "outputs were first made (a rerun reuses both). Peak RSS: resident memory of the whole process sampled "
        "every 5 ms from `/proc/self/statm` during the loop (includes Python, torch and what earlier steps "
        "loaded); RSS added: the peak minus the level when the loop started.",
        "",
        speed_table(result),
        "",
    ]
    if result.salience:
        lines += [
            "## Salience of labelled targets (MSRS, no detector)",
            "",
            f"Contrast of each `{cfg.salience_labels}`-labelled box against a ring around it (|mean inside − mean "
            "of the band between the box and the box grown by half its smaller side, at least 4 px|, grey levels "
            "0–255, BT.601 luma), averaged per class and day/night; `÷ IR` and `÷ VIS` divide by the same boxes' "
            "mean contrast in the IR and visible images (÷ IR near 1: warm targets stay as salient as in the IR "
            "image).",
            "",
            salience_markdown(result),
            "",
        ]
    lines += ["## Detection (MSRS)", ""]
    if result.detection:
        lines += [
            f"AP of the given detections against the MSRS `{cfg.detection_labels}` boxes, by pycocotools "
            "(COCO protocol: AP@0.5, and AP averaged over IoU 0.50:0.05:0.95); `boxes` counts detections.",
            "",
            detection_markdown(result),
            "",
        ]
    lines += [DETECTION_NOTE, ""]
    lines += ["## Files", "", "- `values.csv`: every value in this report, and every per-image metric.", ""]
    lines += ["- fused images: `fused/<method>/<dataset>/`; timings of the runs that made them: `timing.json`.", ""]
    made = provenance_lines(result)
    if made:
        lines += [
            "- what made them (`fused/<method>/<dataset>/provenance.json`; a rerun reuses images only when this "
            "matches):",
            "",
            *made,
            "",
        ]
    text = "\n".join(lines).encode()
    atomic_write(out / "report.md", lambda fh: fh.write(text))
    write_values(result, out / "values.csv")
    return out / "report.md"


def provenance_lines(result: BenchResult) -> list[str]:
    """One line per method column fused by samfuse: method, weights (sha256), options, masks."""
    out: list[str] = []
    seen: set[str] = set()
    for cell in result.cells.values():
        rec = cell.record
        if rec is None or cell.refused or cell.method in seen:
            continue
        seen.add(cell.method)
        parts = [f"method `{rec['method']}`", f"weights `{rec['weights'] or 'none'}`"]
        if rec.get("options"):
            parts.append("options " + ", ".join(f"`{k}={v}`" for k, v in rec["options"].items()))
        if rec.get("masks"):
            parts.append(f"masks `{rec['masks']['provider']}` (version {rec['masks']['version']})")
        out.append(f"  - `{cell.method}`: " + "; ".join(parts))
    return out


def _num(v: object) -> str:
    """Full precision, plain Python syntax (never ``np.float64(...)``); empty for None/NaN."""
    if v is None:
        return ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)  # type: ignore[arg-type]
    return "" if math.isnan(f) else repr(f)


def write_values(result: BenchResult, path: Path) -> None:
    """Long CSV ``table,dataset,method,item,statistic,value`` of every value (per-image metrics too); empty
    cells are undefined values."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "dataset", "method", "item", "statistic", "value"])
    for (m, d), c in result.cells.items():
        if c.refused:
            continue
        for metric in result.metrics:
            mean, std, n = _stats(c, metric)
            w.writerow(["metrics", d, m, metric, "mean", _num(mean)])
            w.writerow(["metrics", d, m, metric, "std", _num(std)])
            w.writerow(["metrics", d, m, metric, "n", n])
        for r in c.evaluated:
            for metric in result.metrics:
                v = r.values.get(metric, math.nan)
                w.writerow(["image", d, m, metric, r.stem, _num(v)])
        if c.timing is not None:
            t = c.timing
            for key, v in (
                ("seconds_per_pair", t.per_pair),
                ("pairs_timed", t.pairs),
                ("parameters", t.params),
                ("peak_rss_bytes", t.peak_bytes),
                ("rss_added_bytes", t.increase_bytes),
            ):
                w.writerow(["speed", d, m, key, t.size, _num(v)])
    for r in result.salience:
        for key, v in (
            ("boxes", r.n),
            ("contrast", r.contrast),
            ("ratio_ir", r.contrast / r.ir),
            ("ratio_vis", r.contrast / r.vis),
        ):
            w.writerow(["salience", "msrs", r.column, f"{r.cls}/{r.period}", key, _num(v)])
    for name, ap in result.detection.items():
        for cls in ap.ap:
            w.writerow(["detection", "msrs", name, cls, "AP50", _num(ap.ap50[cls])])
            w.writerow(["detection", "msrs", name, cls, "AP50:95", _num(ap.ap[cls])])
        w.writerow(["detection", "msrs", name, "mean", "AP50", _num(ap.map50)])
        w.writerow(["detection", "msrs", name, "mean", "AP50:95", _num(ap.map)])
    data = buf.getvalue().encode()
    atomic_write(path, lambda fh: fh.write(data))
