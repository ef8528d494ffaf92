"""Per-item outcome bookkeeping for batch commands: one line per failure, a summary, an exit code."""

from __future__ import annotations

import sys

from tqdm import tqdm


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
        return (
            f"{len(self.done_items)} {self.noun}, {len(self.failed_items)} failed, "
            f"{len(self.skipped_items)} skipped"
        )

    @property
    def exit_code(self) -> int:
        return 1 if self.failed_items else 0
