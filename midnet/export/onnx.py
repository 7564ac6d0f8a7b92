"""``midnet export --format onnx``: the core's one dynamic-size ONNX file (midnet/onnx_graph.py), written where asked.

The file is the one ``--engine onnx`` uses: taken from midnet's cache when it is there
(exported into the cache first when not), then copied, so a network is exported once
whether it is run or exported first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torch import nn

from ..io import atomic_write
from ..onnx_graph import cached_onnx


def export_onnx_file(net: nn.Module, path: str | os.PathLike, replace: bool = True) -> Path:
    """Write ``net`` as ONE ONNX file: dynamic batch, height and width, the size rule in its metadata."""
    source = cached_onnx(net)
    path = Path(path)
    with atomic_write(path, replace=replace) as tmp:
        shutil.copyfile(source, tmp)
    return path
