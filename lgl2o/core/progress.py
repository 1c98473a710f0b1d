"""Progress of long loops, visible where a person is looking and nowhere else.

While a stage runs, the stage runner names a file in ``LGL2O_PROGRESS`` and prints to the terminal every
line appended to it; each ``Progress`` appends a line there (done, rate, time left) at most every
``every`` seconds and at the end, so the terminal shows a 100-minute stage moving and the executed
notebook stays free of progress bars. Elsewhere (a terminal, a notebook opened by hand) it is tqdm's
plain text bar on stderr (no widget).
"""
from __future__ import annotations

import os
import time

ENV = "LGL2O_PROGRESS"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """``total`` steps of ``desc``, from ``initial`` (a resumed run); ``update(n)`` after each n steps."""

    def __init__(self, total: int, desc: str, initial: int = 0, disable: bool = False, every: float = 30.0):
        self.total, self.desc, self.n, self.every = int(total), desc, int(initial), float(every)
        self.path = None if disable else os.environ.get(ENV) or None
        self.bar = None
        if not disable and self.path is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, leave=False, mininterval=1.0)
        self.start, self.first, self.last = time.monotonic(), self.n, None

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = (self.n - self.first) / elapsed if elapsed > 0 else 0.0
        left = f", {_duration((self.total - self.n) / rate)} left" if rate > 0 and self.n < self.total else ""
        return (f"{self.desc}: {self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f}%), "
                f"{rate:.1f}/s, {_duration(elapsed)} so far{left}")

    def _write(self) -> None:
        with open(self.path, "a") as f:
            f.write(self._line() + "\n")
        self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.path is not None and (self.last is None or time.monotonic() - self.last >= self.every):
            self._write()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.path is not None:
            self._write()
