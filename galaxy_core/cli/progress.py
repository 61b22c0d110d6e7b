"""A progress line on stderr for long CLI steps: percent, message, elapsed time and time left.

:class:`ProgressLine` is a :data:`~galaxy_core.detection.base.Progress` (call it
with ``(fraction, message)``), so it can be handed to ``pipeline.run`` or a
detector as it is; :meth:`ProgressLine.span` maps a sub-step (one file of a
batch, say) onto part of the whole.  On a terminal the one line is rewritten in
place (``\\r``), at most every ``min_interval`` seconds; when stderr is not a
terminal (a pipe, a log file) or the user asked for quiet, nothing is written.

    >>> import io
    >>> line = ProgressLine(io.StringIO())  # not a terminal: silent
    >>> line(0.5, "YOLO: 3 of 6 tiles"); line.close()
    >>> line.stream.getvalue()
    ''
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

#: The line is never shorter than this many columns, whatever the terminal says.
_MIN_WIDTH = 40


class ProgressLine:
    """One rewritten line of progress on ``stream`` (stderr by default).

    Args:
        stream: where to write; default ``sys.stderr`` at construction.
        enabled: False for quiet; None (default) for "when ``stream`` is a terminal".
        min_interval: least time between two redraws, s (the last state is always drawn
            by :meth:`close`).
        clock: seconds as a float (``time.monotonic``; tests pass their own).
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None,
                 min_interval: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else bool(enabled)
        self.min_interval = float(min_interval)
        self._clock = clock
        self._start: float | None = None
        self._drawn_at: float | None = None
        self._width = 0  # characters of the line now on screen (0: none)
        self._pending: tuple[float, str] | None = None

    def __call__(self, fraction: float, message: str) -> None:
        """Report ``fraction`` (0 to 1) of the work done, with what is being done now."""
        if not self.enabled:
            return
        now = self._clock()
        if self._start is None:
            self._start = now
        self._pending = (min(max(float(fraction), 0.0), 1.0), str(message))
        if self._drawn_at is None or now - self._drawn_at >= self.min_interval:
            self._draw(now)

    def span(self, lo: float, hi: float, prefix: str = "") -> Callable[[float, str], None]:
        """A Progress for a sub-step that covers ``lo`` to ``hi`` of the whole; its messages
        are shown after ``prefix`` (e.g. ``"file 3 of 10: "``)."""
        return lambda f, msg: self(lo + (hi - lo) * float(f), f"{prefix}{msg}")

    def write(self, text: str) -> None:
        """Print ``text`` as its own line(s) on the stream, above the progress line."""
        self._clear()
        print(text, file=self.stream, flush=True)
        if self.enabled and self._pending is not None:
            self._draw(self._clock())

    def close(self) -> None:
        """Draw the last state reported and end the line (nothing when nothing was drawn)."""
        if self.enabled and self._pending is not None:
            self._draw(self._clock())
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0
        self._pending = None

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def text(self, now: float) -> str:
        """The line for the last state reported, as it would be drawn at time ``now``."""
        fraction, message = self._pending or (0.0, "")
        elapsed = now - (self._start if self._start is not None else now)
        times = f"{clock_text(elapsed)} elapsed"
        left = time_left(fraction, elapsed)
        if left is not None:
            times += f", ~{clock_text(left)} left"
        return f"{100 * fraction:3.0f}% {message} [{times}]"

    def _draw(self, now: float) -> None:
        limit = max(shutil.get_terminal_size((80, 24)).columns - 1, _MIN_WIDTH)
        line = self.text(now)
        if len(line) > limit:
            line = line[:limit - 3] + "..."
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = max(len(line), self._width)
        self._drawn_at = now

    def _clear(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0


def time_left(fraction: float, elapsed: float) -> float | None:
    """Seconds left if the rest goes as fast as what is done, or None when that cannot be told
    (less than 2 % done, or under a second elapsed) or nothing is left."""
    if not 0.02 <= fraction < 1.0 or elapsed < 1.0:
        return None
    return max(elapsed * (1.0 - fraction) / fraction, 0.0)


def clock_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
