"""A one-line progress display on a terminal, redrawn in place.

Batches get a bar with counts and the time left; a single file that takes
more than a second gets its name and the time so far. A background thread
redraws it every second (the compiled kernels release the GIL), and messages
print above it, so errors and summaries stay readable. When stderr is not a
terminal (a log, a pipe, CI) nothing is drawn at all.
"""
import shutil
import threading
import time


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    def __init__(self, total: int, stream, enabled: bool, label: str = "", interval: float = 1.0):
        self.total, self.stream, self.enabled, self.label = total, stream, enabled, label
        self.done = self.failed = 0
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._shown = total > 1  # a single file shows up only once it has taken a while
        if enabled:
            self._draw()
            threading.Thread(target=self._tick, args=(interval,), daemon=True).start()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        if self.total == 1:
            return f"{self.label}, {_clock(elapsed)}"
        tail = f" {self.done}/{self.total}" + (f", {self.failed} failed" if self.failed else "") + f", {_clock(elapsed)}"
        if 0 < self.done < self.total:
            tail += f", {_clock(elapsed / self.done * (self.total - self.done))} left"
        width = max(10, min(40, shutil.get_terminal_size((80, 24)).columns - len(tail) - 3))
        filled = width * self.done // max(self.total, 1)
        return "[" + "#" * filled + "." * (width - filled) + "]" + tail

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                self._shown = True
                self._draw()

    def _draw(self) -> None:
        if self.enabled and self._shown and not self._stop.is_set():
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def echo(self, message: str) -> None:
        """Print a line above the display."""
        with self._lock:
            if self.enabled and self._shown:
                self.stream.write("\r\x1b[K")
            self.stream.write(message + "\n")
            self._draw()

    def advance(self, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            if self.enabled and self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
