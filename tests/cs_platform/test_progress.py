"""The progress helper: one line per step off a terminal, a redrawn bar on one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cs_platform.progress import Progress, duration


def ticking(*seconds: float) -> Callable[[], float]:
    """A clock that returns `seconds` in turn."""
    times = iter(seconds)
    return lambda: next(times)


def test_each_step_gets_a_line_with_its_count_time_and_time_left(capsys):
    # started at 0; step 1 runs 0-2 s, step 2 runs 2-6 s, step 3 runs 6-7 s
    progress = Progress(3, tty=False, clock=ticking(0, 0, 2, 2, 2, 6, 6, 6, 7, 7))
    for day, accounts in (("2026-09-01", 1684), ("2026-09-08", 1690), ("2026-09-15", 12)):
        with progress.step(f"scoring {day}") as step:
            step.detail = f"{accounts:,} accounts"
    assert capsys.readouterr().err.splitlines() == [
        "[1/3] scoring 2026-09-01: 1,684 accounts in 2.0 s, about 4 s left",
        "[2/3] scoring 2026-09-08: 1,690 accounts in 4.0 s, about 3 s left",
        "[3/3] scoring 2026-09-15: 12 accounts in 1.0 s, done in 7 s",
    ]


def test_a_step_without_detail_still_says_how_long_it_took(capsys):
    with Progress(1, tty=False, clock=ticking(0, 0, 0.4, 0.4)).step("syncing crm"):
        pass
    assert capsys.readouterr().err == "[1/1] syncing crm: 0.4 s, done in 1 s\n"


def test_a_failed_step_prints_nothing_off_a_terminal(capsys):
    progress = Progress(2, tty=False, clock=ticking(0, 1, 2))
    with pytest.raises(RuntimeError), progress.step("importing usage.csv"):
        raise RuntimeError("boom")
    assert capsys.readouterr().err == ""
    assert progress.done == 0


def test_on_a_terminal_one_line_is_redrawn_with_a_bar(capsys):
    progress = Progress(2, tty=True, clock=ticking(0, 0, 1, 1, 1, 2, 2, 2))
    for day in ("2026-09-01", "2026-09-08"):
        with progress.step(f"scoring {day}"):
            pass
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("done in 2 s\n")
    assert "\r\x1b[K[" + "-" * 20 + "] [1/2] scoring 2026-09-01 …" in err
    assert "\r\x1b[K[" + "#" * 10 + "-" * 10 + "] [1/2] scoring 2026-09-01: 1.0 s" in err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.3, "1 s"), (15.4, "15 s"), (125, "2 min 5 s"), (3790, "1 h 3 min")],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert duration(seconds) == text
