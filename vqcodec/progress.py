"""A one-line progress bar for batches, redrawn in place on a terminal.

Messages are printed above it, so errors and summaries stay readable while
it runs. When stderr is not a terminal (a log, a pipe, CI) it draws nothing.
"""
import shutil
import time


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    def __init__(self, total: int, stream, enabled: bool):
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = self.failed = 0
        self.start = time.monotonic()
        self._draw()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        tail = f" {self.done}/{self.total}" + (f", {self.failed} failed" if self.failed else "") + f", {_clock(elapsed)}"
        if 0 < self.done < self.total:
            tail += f", {_clock(elapsed / self.done * (self.total - self.done))} left"
        width = max(10, min(40, shutil.get_terminal_size((80, 24)).columns - len(tail) - 3))
        filled = width * self.done // max(self.total, 1)
        return "[" + "#" * filled + "." * (width - filled) + "]" + tail

    def _draw(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def echo(self, message: str) -> None:
        """Print a line above the bar."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
        self.stream.write(message + "\n")
        self._draw()

    def advance(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        self._draw()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
