"""A one-line description of the machine a benchmark ran on, and a peak-memory sampler."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import threading
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (e.g. "Intel(R) Xeon(R) Processor"), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """E.g. ``"2-core AMD EPYC 7B13 (x86_64), no GPU, Linux, load average 2.1 at start"``."""
    cpu = cpu_model()
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f"GPU {torch.cuda.get_device_name(0)}"
    except Exception:  # pragma: no cover - torch is a dependency; be safe in a report header
        pass
    load = ""
    with contextlib.suppress(OSError):
        load = f", load average {os.getloadavg()[0]:.1f} at start"
    return f"{os.cpu_count()}-core {cpu} ({platform.machine()}), {gpu}, {platform.system()}{load}"


def _rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident set size (RSS) of this process while the block runs, sampled every ``interval`` s from
    ``/proc/self/statm`` (Linux); elsewhere the process's lifetime peak ``resource.getrusage().ru_maxrss``.

    ``peak`` is the absolute peak in bytes, ``increase`` the peak minus the RSS when the block started (what the
    method added on top of what was already loaded). Short spikes between two samples can be missed.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = 0
        self.peak = 0
        self.method = "RSS sampled every 5 ms (/proc/self/statm)"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _rss_bytes()
            if rss is not None and rss > self.peak:
                self.peak = rss

    def __enter__(self) -> PeakMemory:
        rss = _rss_bytes()
        if rss is None:
            self.method = "process lifetime peak (getrusage ru_maxrss)"
            self.start = 0
        else:
            self.start = self.peak = rss
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            rss = _rss_bytes()
            if rss is not None:
                self.peak = max(self.peak, rss)
        else:
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @property
    def increase(self) -> int:
        return max(0, self.peak - self.start)
