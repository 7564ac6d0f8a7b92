"""One restoration run of the napari widget, with no GUI: settings, checks, frames, cancel.

The widget runs :func:`run` in a napari thread worker. Progress and cancelling go
through make_restorer's ``on_tile`` callback, which the restorer calls after every
tile: setting the cancel event makes the next call raise :class:`Cancelled`, so a tiled
frame stops within one tile. A frame restored whole (or by a classical method, which
reports no tiles) stops at the end of that frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..inference import restore
from ..choices import CLASSICAL_METHODS, ENGINE_NAMES
from ..errors import MidnetError, one_line
from ..choices import PRECISIONS as NUMBER_FORMATS
from ..inference.settings import RestoreSettings
from ..models.zoo import PRESETS

FILE_CHOICE = "weights file or BMZ package..."
SHIPPED_MODELS = tuple(name for name, preset in PRESETS.items() if preset.weights)
MODEL_CHOICES = (*SHIPPED_MODELS, FILE_CHOICE, *CLASSICAL_METHODS)


# the choices of `midnet deblur` (midnet/cli); the defaults are RestoreSettings', as there: engine auto measures once
# per machine and model which engine and precision run fastest here (midnet/inference/engine_choice.py)
ENGINES = ("auto", *ENGINE_NAMES)
PRECISIONS = ("auto", *(p for p in NUMBER_FORMATS if p != "auto"))
DEFAULTS = RestoreSettings()
INFOBAR_CHOICES = ("auto", "rows", "none")


class Cancelled(Exception):
    """Raised from the on_tile callback when the user pressed Cancel."""


def form_settings(model: str, infobar: str | int = DEFAULTS.infobar, tile: int | None = DEFAULTS.tile,
                  engine: str = DEFAULTS.engine, precision: str = DEFAULTS.precision) -> RestoreSettings:
    """The :class:`RestoreSettings` of the widget's form, whose one ``model`` list holds the preset names, a
    file path and the classical methods."""
    if model in CLASSICAL_METHODS:
        return RestoreSettings(method=model, infobar=infobar)
    return RestoreSettings(model=model, infobar=infobar, tile=tile, engine=engine, precision=precision)


@dataclass
class Outcome:
    """What a run ended with: ``status`` is "done" (``array`` set), "cancelled" or "error" (``message`` set)."""

    status: str
    array: np.ndarray | None = None
    message: str = ""
    tiles: int = 0  # on_tile calls seen
    tiles_total: int = 0  # the frame's tile count the last call reported
    provenance: dict = field(default_factory=dict)  # "done": Restorer.provenance, what actually ran


def frames_of(data, rgb: bool) -> tuple[int, bool]:
    """(number of frames, is a stack) of an image layer's data; a one-line MidnetError for anything else.

    2-D images, RGB(A) images, and stacks of either (one leading axis) are restored; a
    frame is what napari shows at one position of the slider.
    """
    shape = tuple(getattr(data, "shape", ()))
    plane_dims = 3 if rgb else 2
    if len(shape) == plane_dims:
        return 1, False
    if len(shape) == plane_dims + 1:
        return int(shape[0]), True
    kind = "RGB image" if rgb else "image"
    raise MidnetError(f"a {len(shape)}-D {kind} of shape {shape} cannot be restored; midnet restores 2-D "
                      "images and stacks of them (one slider axis): split the other axes first")


def run(data, rgb: bool, settings: RestoreSettings, cancel: threading.Event,
        report: Callable[[float], None] | None = None) -> Outcome:
    """Restore every frame of ``data`` (same dtype and shape back); never raises: the Outcome says how it ended.

    ``report(fraction)`` receives the progress in [0, 1] after every tile and frame.
    """
    count, is_stack = frames_of(data, rgb)
    tiles = tiles_total = 0
    frame_index = 0

    def on_tile(done: int, total: int) -> None:
        nonlocal tiles, tiles_total
        tiles, tiles_total = tiles + 1, total
        if cancel.is_set():
            raise Cancelled
        if report is not None:
            report((frame_index + done / max(total, 1)) / count)

    try:
        restorer = restore.make_restorer(settings, on_tile)
        out = None
        for frame_index in range(count):
            if cancel.is_set():
                raise Cancelled
            frame = np.asarray(data[frame_index] if is_stack else data)  # a dask or zarr layer reads one frame
            restored = restorer.deblur(frame, settings.infobar)
            if out is None:
                out = np.empty((count, *restored.shape), restored.dtype) if is_stack else restored
            if is_stack:
                out[frame_index] = restored
            if report is not None:
                report((frame_index + 1) / count)
        # read after the run: the engine and precision auto chose, the weights' SHA-256, midnet's version
        return Outcome("done", out, tiles=tiles, tiles_total=tiles_total, provenance=restorer.provenance)
    except Cancelled:
        return Outcome("cancelled", tiles=tiles, tiles_total=tiles_total)
    except MidnetError as exc:
        return Outcome("error", message=one_line(exc), tiles=tiles)
    except Exception as exc:  # anything else still reaches the user as one line, not a traceback dialog
        return Outcome("error", message=f"restoring failed ({type(exc).__name__}: {one_line(exc, 200)})", tiles=tiles)
