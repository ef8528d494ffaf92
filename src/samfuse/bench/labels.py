"""YOLO-format boxes: ground-truth labels (``class cx cy w h``) and predictions (``class cx cy w h conf``).

One text file per image stem, coordinates normalised to [0, 1] by the image's width and height, fields separated
by any whitespace (the MSRS label files use two spaces and trailing blanks). A missing file means no box.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from samfuse.io import InputError

#: MSRS detection classes (``classes.txt`` of Lele-3/MSRS-detection-label).
MSRS_CLASSES: tuple[str, ...] = ("person", "bicycle", "car")


@dataclass(frozen=True)
class Box:
    """One box in pixels: class index, left, top, width, height, confidence (1 for ground truth)."""

    cls: int
    x: float
    y: float
    w: float
    h: float
    score: float = 1.0


def read_yolo(path: Path, width: int, height: int, *, scores: bool = False) -> list[Box]:
    """The boxes of one file in pixels; ``scores``: a sixth column holds the confidence (required).

    :class:`InputError` (one line naming the file and the line) for a line that is not 5 (or 6) numbers or a
    negative size."""
    if not path.exists():
        return []
    boxes: list[Box] = []
    for no, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        want = 6 if scores else 5
        if len(fields) != want and not (not scores and len(fields) == 6):
            raise InputError(f"{path}: line {no}: expected {want} numbers (class cx cy w h{' conf' * scores})")
        try:
            cls = int(float(fields[0]))
            cx, cy, w, h = (float(v) for v in fields[1:5])
            score = float(fields[5]) if scores else 1.0
        except ValueError:
            raise InputError(f"{path}: line {no}: not a number: {line.strip()!r}") from None
        if w < 0 or h < 0:
            raise InputError(f"{path}: line {no}: negative box size")
        boxes.append(Box(cls, (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height, score))
    return boxes


def write_yolo(path: Path, boxes: list[Box], width: int, height: int, *, scores: bool = True) -> None:
    """Write boxes (pixels) as a YOLO file, normalised by ``width``/``height`` (used by tests and examples)."""
    lines = []
    for b in boxes:
        cx, cy = (b.x + b.w / 2) / width, (b.y + b.h / 2) / height
        line = f"{b.cls} {cx:.6f} {cy:.6f} {b.w / width:.6f} {b.h / height:.6f}"
        lines.append(line + (f" {b.score:.6f}" if scores else ""))
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
