"""Progress of a batch on stderr: a bar of files and, below it, a bar of the current frame's tiles."""

from __future__ import annotations

import sys

from tqdm import tqdm


class BatchProgress:
    """Two tqdm bars (files, tiles); ``disable=None`` hides them when stderr is not a terminal."""

    def __init__(self, files: int):
        self.files = tqdm(total=files, desc="files", unit="file", position=0, file=sys.stderr, disable=None)
        self.tiles = tqdm(desc="tiles", unit="tile", position=1, leave=False, file=sys.stderr, disable=None)

    def on_tile(self, done: int, total: int) -> None:
        self.tiles.total = total
        self.tiles.n = done
        self.tiles.refresh()

    def file_done(self, job, status: str) -> None:
        self.files.update(1)

    def __enter__(self) -> "BatchProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.files.close()
        self.tiles.close()
