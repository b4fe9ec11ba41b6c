"""The progress display on stderr: which step of how many, what it measures now, time so far.

On a terminal the current phase is rewritten in place; in a log (CI) each phase is one line,
so a slow or stuck run shows where it is.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.total = 0
        self.done = 0
        self.current = ""
        self._tty = self.stream.isatty()

    def set_total(self, total: int) -> None:
        self.total = total

    def step(self, label: str) -> None:
        """A new step (a server mode, or the direct limit)."""
        self.done += 1
        self.current = label
        self._line(f"[{self.done}/{self.total}] {label}", keep=True)

    def phase(self, text: str) -> None:
        """What the current step measures now."""
        self._line(f"    {text}", keep=False)

    def note(self, text: str) -> None:
        self._line(text, keep=True)

    def _line(self, text: str, *, keep: bool) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self.t0
        line = f"[bench {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] {text}"
        if self._tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if keep else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
