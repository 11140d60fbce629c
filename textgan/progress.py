"""Progress for every long loop: a tqdm bar on a terminal, plain lines in a file or a pipe.

A bar redrawn with carriage returns turns a log file into thousands of frames; when stderr is
not a terminal the same calls print one line every `line_every` updates (0: once, at close),
with an ETA from the run's plan (`seconds_each`) until the loop's own pace is known.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm


def stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (where a redrawn bar belongs)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class LineProgress:
    """The subset of tqdm's interface the trainers use, printing whole lines to stderr."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, initial: int, desc: str,
                 unit: str, line_every: int, seconds_each: float | None = None) -> None:
        self.iterable = iterable
        self.total = total
        self.n = initial
        self.desc = desc
        self.unit = unit
        self.line_every = line_every
        self.seconds_each = seconds_each  # the plan's estimate of one update
        self.initial = initial
        self.postfix = ""
        self.started = time.monotonic()
        self.closed = False
        self._printed_at = initial

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "LineProgress made without an iterable"
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count n more updates; print a line every `line_every` of them."""
        self.n += n
        if self.line_every and self.n - self._printed_at >= self.line_every:
            self._print()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **values: Any) -> None:
        """Values shown at the end of the next line (as tqdm's postfix)."""
        merged = {**(ordered_dict or {}), **values}
        self.postfix = ", ".join(f"{k}={v}" for k, v in merged.items())

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        """Print the final line (unless the last update printed it already)."""
        if self.closed:
            return
        self.closed = True
        if self.n != self._printed_at or not self.line_every:
            self._print()

    def _print(self) -> None:
        self._printed_at = self.n
        count = f"{self.n}/{self.total}" if self.total is not None else str(self.n)
        elapsed = time.monotonic() - self.started
        parts = [f"{self.desc}: {count} {self.unit}", f"{elapsed:.1f}s"]
        each = elapsed / (self.n - self.initial) if self.n > self.initial else self.seconds_each
        if self.total is not None and each is not None and self.n < self.total:
            parts.append(f"ETA {format_duration((self.total - self.n) * each)}")
        if self.postfix:
            parts.append(self.postfix)
        print(", ".join(parts), file=sys.stderr, flush=True)


def format_duration(seconds: float) -> str:
    """e.g. 0.4s, 42s, 3m05s, 2h10m."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, initial: int = 0,
             desc: str = "", unit: str = "it", line_every: int = 0, disable: bool = False,
             seconds_each: float | None = None) -> Any:
    """A progress bar (tqdm) on a terminal; elsewhere a `LineProgress` printing whole lines.

    `line_every`: updates between printed lines off a terminal (0: one line when it closes, e.g.
    per epoch for an epoch's bar). `disable`: nothing at all (processes other than rank 0).
    `seconds_each`: the plan's estimate of one update, for the lines' ETA.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if disable or stderr_is_terminal():
        return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, leave=False, disable=disable)
    return LineProgress(iterable, total, initial, desc, unit, line_every, seconds_each)
