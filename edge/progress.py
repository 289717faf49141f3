"""Progress bars for people at a terminal (tqdm on stderr). Logs and pipes keep the key=value lines instead:
the shells make a bar only when stderr is a terminal, and the stages call it only when given one."""

from __future__ import annotations

import contextlib
import sys
import threading

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm


def on_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def bar_logging():
    """While a bar is drawn, log lines are printed above it instead of through it."""
    with logging_redirect_tqdm():
        yield


class IndexBar:
    """`edge index`: seconds of video done of those to index, files done, ETA (tqdm's, from the pace so far).

    `begin` gets the totals, `at` every decoded sample of the current file (from the frames thread),
    `done` each finished file; `line` takes the key=value lines (files indexed or failed are shown above the
    bar; per-sample progress and unchanged files are what the bar itself shows).
    """

    def __init__(self):
        self._bar = None
        self._lock = threading.Lock()
        self._files, self._done, self._base = 0, 0, 0.0  # files in all, files finished, seconds before this file

    def begin(self, files: int, seconds: float) -> None:
        self._files = files
        self._bar = tqdm(
            total=round(seconds, 1),
            unit="s",
            unit_scale=False,
            desc=self._desc(),
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc} |{bar}| {n:.0f}/{total:.0f} s of video [{elapsed}<{remaining}, {rate_fmt}]",
        )

    def _desc(self) -> str:
        return f"files {self._done}/{self._files}"

    def at(self, t: float, _frame=None) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.n = min(self._base + t, self._bar.total)
                self._bar.refresh()

    def done(self, seconds: float) -> None:
        with self._lock:
            self._done += 1
            self._base += seconds
            if self._bar is not None:
                self._bar.set_description_str(self._desc(), refresh=False)
                self._bar.n = min(self._base, self._bar.total)
                self._bar.refresh()

    def line(self, message: str) -> None:
        if not message.startswith(("event=progress ", "event=unchanged ")):
            tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class FileBar:
    """`edge models install`: files installed of those to install, the current step, ETA."""

    def __init__(self):
        self._bar = None

    def begin(self, files: int) -> None:
        self._bar = tqdm(total=files, unit="file", desc="models", file=sys.stderr, dynamic_ncols=True)

    def step(self, what: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(what)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
