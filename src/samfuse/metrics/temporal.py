"""Temporal stability of a fused sequence: does the fused video change more, frame to frame, than its sources?

Per-frame metrics cannot see flicker: a method that adds a little independent noise to every frame scores
about the same on each frame, yet the video shimmers. These measures compare the fused video's frame-to-frame
change with that of its two (registered) source videos. Streamed: only the previous frame of each stream is
held, so any length fits in memory (:class:`TemporalStabilityMeter`); :func:`temporal_stability` runs it over
three iterables of frames. ``samfuse eval --ir IR.mp4 --vi VIS.mp4 --fused FUSED.mp4`` reports both numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from samfuse.io.bt601 import BT601

__all__ = ["TemporalStability", "TemporalStabilityMeter", "luminance", "temporal_stability"]

#: BT.601 luma weights for R, G, B (:data:`samfuse.io.bt601.BT601`), as float32 for one matrix product per frame.
_BT601 = np.array(BT601, dtype=np.float32)


def luminance(frame: np.ndarray) -> np.ndarray:
    """A frame (H×W, H×W×1 or H×W×3 **RGB**; uint8, uint16 or float in [0, 1]) → its BT.601 luma, float32 in [0, 1]."""
    x = np.asarray(frame)
    if x.dtype == np.uint8:
        unit = x.astype(np.float32) / 255.0
    elif x.dtype == np.uint16:
        unit = x.astype(np.float32) / 65535.0
    elif np.issubdtype(x.dtype, np.floating):
        unit = np.clip(x.astype(np.float32), 0.0, 1.0)
    else:
        raise ValueError(f"unsupported frame dtype {x.dtype}")
    if unit.ndim == 3 and unit.shape[2] == 1:
        unit = unit[:, :, 0]
    if unit.ndim == 3:
        if unit.shape[2] != 3:
            raise ValueError(f"expected an H×W or H×W×3 frame, got shape {unit.shape}")
        unit = unit @ _BT601
    if unit.ndim != 2:
        raise ValueError(f"expected an H×W or H×W×3 frame, got shape {unit.shape}")
    return unit


@dataclass
class TemporalStability:
    r"""Temporal stability of a fused sequence :math:`F_0 \dots F_{T-1}` against its sources :math:`A` (IR) and
    :math:`B` (visible), all as BT.601 luma in [0, 1] (:func:`luminance`), of one size.

    With the per-pixel frame-to-frame changes

    .. math::

        \Delta F_t = |F_t - F_{t-1}|, \qquad
        \Delta S_t = \max\big(|A_t - A_{t-1}|,\ |B_t - B_{t-1}|\big), \qquad t = 1 \dots T-1,

    and :math:`\langle\cdot\rangle` the mean over the pixels,

    .. math::

        \mathrm{TS} = \frac{\sum_t \langle \Delta F_t \rangle}{\sum_t \langle \Delta S_t \rangle},
        \qquad
        \mathrm{flicker} = \frac{255}{T-1} \sum_t \big\langle \max(0,\ \Delta F_t - \Delta S_t) \big\rangle .

    * ``ts`` (temporal change ratio): how much the fused video changes per frame relative to the larger of its
      sources' changes. A per-pixel convex combination with fixed weights (``average``) or ``max`` never exceeds
      1; values above 1 mean the method adds change of its own. Lower is not always better (a frozen video has
      0): read it with ``flicker``. NaN when the sources do not change at all.
    * ``flicker``: the change the fused video shows **beyond** what either source shows at the same pixel, in
      8-bit grey levels per pixel and frame; lower is better, 0 for any method whose output at a pixel moves no
      more than its inputs there (``average``, ``max``, every pixel-wise 1-Lipschitz rule). Added per-frame noise,
      unstable per-frame normalisation or masks that jump between frames raise it.

    Lossy codecs add change of their own to all three streams (a few grey levels with ``mp4v``); compare methods
    on the same sources and codec, or use lossless files (``.mkv`` FFV1, frame folders).

    Attributes:
        ts: the ratio TS.
        flicker: the excess change, grey levels (0–255 scale).
        frames: the number of frames T.
        fused_change: :math:`\langle \Delta F_t \rangle` per step t (length T-1, [0, 1] scale).
        source_change: :math:`\langle \Delta S_t \rangle` per step.
        excess: :math:`\langle \max(0, \Delta F_t - \Delta S_t) \rangle` per step ([0, 1] scale).

    Example:
        >>> clip = [np.full((8, 8), v, np.uint8) for v in (0, 10, 20)]
        >>> res = temporal_stability(clip, clip, clip)
        >>> round(res.ts, 6), round(res.flicker, 6), res.frames
        (1.0, 0.0, 3)
    """

    ts: float
    flicker: float
    frames: int
    fused_change: list[float] = field(default_factory=list)
    source_change: list[float] = field(default_factory=list)
    excess: list[float] = field(default_factory=list)


class TemporalStabilityMeter:
    """Streaming :class:`TemporalStability`: ``update(ir, vi, fused)`` once per frame, in order, then ``compute()``.

    Frames are as :func:`luminance` takes them (RGB for colour); the three frames of one step must have one size
    (ValueError otherwise). Holds only the previous luma of each stream.
    """

    def __init__(self) -> None:
        self.frames = 0
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.fused_change: list[float] = []
        self.source_change: list[float] = []
        self.excess: list[float] = []

    def update(self, ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> None:
        cur = (luminance(ir), luminance(vi), luminance(fused))
        shapes = {c.shape for c in cur}
        if len(shapes) != 1:
            raise ValueError(f"frame {self.frames}: IR, visible and fused sizes differ ({', '.join(map(str, shapes))})")
        if self._prev is not None:
            if self._prev[0].shape != cur[0].shape:
                raise ValueError(f"frame {self.frames}: size {cur[0].shape} differs from the previous frame's")
            d_ir, d_vi, d_f = (np.abs(c - p) for c, p in zip(cur, self._prev, strict=True))
            d_s = np.maximum(d_ir, d_vi)
            self.fused_change.append(float(d_f.mean(dtype=np.float64)))
            self.source_change.append(float(d_s.mean(dtype=np.float64)))
            self.excess.append(float(np.maximum(d_f - d_s, 0.0).mean(dtype=np.float64)))
        self._prev = cur
        self.frames += 1

    def compute(self) -> TemporalStability:
        """The result so far; ValueError with fewer than two frames."""
        if self.frames < 2:
            raise ValueError(f"temporal stability needs at least 2 frames, got {self.frames}")
        source = float(np.sum(self.source_change))
        ts = float(np.sum(self.fused_change)) / source if source > 0 else float("nan")
        flicker = 255.0 * float(np.mean(self.excess))
        return TemporalStability(
            ts, flicker, self.frames, list(self.fused_change), list(self.source_change), list(self.excess)
        )


def temporal_stability(
    ir: Iterable[np.ndarray], vi: Iterable[np.ndarray], fused: Iterable[np.ndarray]
) -> TemporalStability:
    """Temporal stability (TS ratio and flicker, see :class:`TemporalStability`) of a fused frame sequence.

    Args:
        ir: IR frames (H×W or H×W×3 RGB; uint8, uint16 or float in [0, 1]).
        vi: visible frames, registered with ``ir``.
        fused: fused frames, of the sources' size.

    Frames pair by index; the three iterables are consumed together and the shortest ends the sequence.

    Returns:
        :class:`TemporalStability`.

    Raises:
        ValueError: fewer than two frames, or frames of different sizes.
    """
    meter = TemporalStabilityMeter()
    for a, b, f in zip(ir, vi, fused, strict=False):
        meter.update(a, b, f)
    return meter.compute()
