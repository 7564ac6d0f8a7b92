"""Progress of a batch on stderr: a bar of files and, below it, a bar of the current frame's tiles.

Lines printed while the bars are drawn go through :meth:`BatchProgress.write`: a plain print would
land in the middle of the files bar. The bars are made before the model loads (its tile callback
is handed to the restorer), so their clocks restart when the batch begins and the tiles bar's at
every frame: a rate counted from the bar's creation would include the loading and earlier files.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

from tqdm import tqdm


def is_terminal(stream) -> bool:
    """Bars only on a terminal: in a log file their redraws would be noise."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class BatchProgress:
    """Two tqdm bars (files, tiles) on ``stream`` (stderr by default), hidden when it is not a terminal."""

    def __init__(self, files: int, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        hidden = not is_terminal(self.stream)
        self.files = tqdm(total=files, desc="files", unit="file", position=0, file=self.stream, disable=hidden)
        self.tiles = tqdm(desc="tiles", unit="tile", position=1, leave=False, file=self.stream, disable=hidden)
        self._frame_start = time.time()  # when the frame being restored began (tqdm's clock is time.time)
        self._new_frame = True

    def write(self, message: str) -> None:
        """``message`` on a line of its own above the bars (they are cleared, and drawn again below it)."""
        tqdm.write(message, file=self.stream)

    def begin(self) -> None:
        """The batch starts now (the model is loaded): both clocks count from here."""
        self.files.reset()
        self._frame_start, self._new_frame = time.time(), True

    def on_tile(self, done: int, total: int) -> None:
        if self._new_frame or done <= self.tiles.n:  # the first tile of a frame: its clock starts at the frame's start
            self.tiles.reset(total)
            self.tiles.start_t = self.tiles.last_print_t = self._frame_start
            self._new_frame = False
        self.tiles.total = total
        self.tiles.n = done
        self.tiles.refresh()
        self._frame_start = time.time()  # a stack's next page starts when this tile ends

    def file_done(self, job, status: str) -> None:
        self.files.update(1)
        self._frame_start, self._new_frame = time.time(), True

    def __enter__(self) -> "BatchProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.tiles.close()  # first: the files bar's last line, then a newline, leaves the cursor where lines go
        self.files.close()


@contextmanager
def working(message: str, stream=None):
    """``message`` at once, then, on a terminal, the seconds spent until the work inside ends: a long step that
    has no parts to count (an export) must not look hung."""
    stream = stream if stream is not None else sys.stderr
    print(message, file=stream, flush=True)
    if not is_terminal(stream):  # a log gets the line, not a clock redrawn every second
        yield
        return
    clock = tqdm(desc="  working", bar_format="{desc}: {elapsed}", file=stream, leave=False)
    done = threading.Event()

    def tick() -> None:
        while not done.wait(1.0):
            clock.refresh()

    ticker = threading.Thread(target=tick, name="midnet-working-clock", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        clock.close()
