"""AP@0.5 and AP@0.5:0.95 of YOLO-format detections against YOLO-format labels, through pycocotools.

The boxes are converted to COCO's JSON structures in memory and scored by ``pycocotools.cocoeval.COCOeval``
(the official implementation: 101-point interpolated precision, IoU thresholds 0.50:0.05:0.95, up to 100
detections per image, area range ``all``). Per class AP is read from the evaluator's precision array
(``eval["precision"][t, :, k, 0, -1]``, cells of -1 left out, as ``COCOeval.summarize`` does); the mean is over
the classes that have at least one ground-truth box.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .labels import Box


@dataclass
class APResult:
    """AP per class name (NaN where the class has no ground truth) and the means over classes."""

    ap50: dict[str, float]
    ap: dict[str, float]
    images: int
    gt_boxes: int
    detections: int

    @property
    def map50(self) -> float:
        vals = [v for v in self.ap50.values() if not np.isnan(v)]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def map(self) -> float:
        vals = [v for v in self.ap.values() if not np.isnan(v)]
        return float(np.mean(vals)) if vals else float("nan")


def average_precision(
    truth: Mapping[str, Sequence[Box]],
    detections: Mapping[str, Sequence[Box]],
    sizes: Mapping[str, tuple[int, int]],
    classes: Sequence[str],
) -> APResult:
    """COCO AP of ``detections`` against ``truth`` (both stem -> boxes in pixels) over the stems of ``sizes``
    (stem -> (width, height)); ``classes[i]`` names class index ``i``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    stems = sorted(sizes)
    ids = {s: i + 1 for i, s in enumerate(stems)}
    images = [{"id": ids[s], "width": sizes[s][0], "height": sizes[s][1], "file_name": s} for s in stems]
    cats = [{"id": k + 1, "name": name} for k, name in enumerate(classes)]
    anns = []
    for s in stems:
        for b in truth.get(s, ()):
            if 0 <= b.cls < len(classes):
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": ids[s],
                        "category_id": b.cls + 1,
                        "bbox": [b.x, b.y, b.w, b.h],
                        "area": b.w * b.h,
                        "iscrowd": 0,
                    }
                )
    dets = [
        {"image_id": ids[s], "category_id": b.cls + 1, "bbox": [b.x, b.y, b.w, b.h], "score": b.score}
        for s in stems
        for b in detections.get(s, ())
        if 0 <= b.cls < len(classes)
    ]
    nan = {name: float("nan") for name in classes}
    if not anns:
        return APResult(dict(nan), dict(nan), len(stems), 0, len(dets))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        if dets:
            dt = gt.loadRes(dets)
        else:
            dt = COCO()
            dt.dataset = {"images": images, "annotations": [], "categories": cats}
            dt.createIndex()
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    ap50, ap = dict(nan), dict(nan)
    for k, name in enumerate(classes):
        if not any(a["category_id"] == k + 1 for a in anns):
            continue
        p_all = prec[:, :, k, 0, -1]
        p50 = prec[0, :, k, 0, -1]
        ap[name] = float(np.mean(p_all[p_all > -1])) if (p_all > -1).any() else 0.0
        ap50[name] = float(np.mean(p50[p50 > -1])) if (p50 > -1).any() else 0.0
    return APResult(ap50, ap, len(stems), len(anns), len(dets))
