"""Progress of long commands on stderr: numbered steps with counts, time taken and time left.

On a terminal one line is redrawn in place with a bar; in logs and CI (not a terminal) each
finished step gets a line of its own, e.g.
`[3/14] scoring 2026-09-15: 1,684 accounts in 1.4 s, about 15 s left`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click

BAR_WIDTH = 20


@dataclass
class Step:
    """What a running step reports when it ends: set `detail`, e.g. "1,684 accounts"."""

    detail: str = ""


class Progress:
    """`total` numbered steps; time left is the mean time of the steps so far times those left."""

    def __init__(
        self,
        total: int,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.total, self.done, self.clock = total, 0, clock
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.started = clock()

    @contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """Time one step called `label`; print its line when it ends (or a bar while it runs)."""
        number, step, started = self.done + 1, Step(), self.clock()
        if self.tty:
            self._draw(f"[{number}/{self.total}] {label} …")
        try:
            yield step
        except BaseException:
            if self.tty:
                click.echo(err=True)  # the error goes below the bar, not onto it
            raise
        self.done = number
        took = self.clock() - started
        detail = f"{step.detail} in {took:.1f} s" if step.detail else f"{took:.1f} s"
        line = f"[{number}/{self.total}] {label}: {detail}, {self._outlook()}"
        if self.tty:
            self._draw(line, end=self.done >= self.total)
        else:
            click.echo(line, err=True)

    def _outlook(self) -> str:
        elapsed = self.clock() - self.started
        if self.done >= self.total:
            return f"done in {duration(elapsed)}"
        return f"about {duration(elapsed / self.done * (self.total - self.done))} left"

    def _draw(self, line: str, *, end: bool = False) -> None:
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        click.echo(f"\r\x1b[K[{bar}] {line}", err=True, nl=end, color=True)  # keep the erase


def duration(seconds: float) -> str:
    """`seconds` for people: "15 s" (at least "1 s"), "2 min 5 s", "1 h 3 min"."""
    whole = max(round(seconds), 1)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
