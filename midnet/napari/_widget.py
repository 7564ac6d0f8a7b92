"""The dock widget: pick an image layer and a model, Restore in a thread worker, compare before and after.

The form is magicgui widgets in a Container; the restoration is :func:`midnet.napari._job.run`
in a napari ``thread_worker``, so the window stays responsive. Progress comes from
make_restorer's ``on_tile`` callback (worker thread) through a Qt signal, which Qt
delivers in the GUI thread. Every failure the user can cause shows as one napari
notification line (``show_error``), never a traceback dialog.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, ProgressBar, PushButton, SpinBox
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, QObject, Signal

from ..choices import CLASSICAL_METHODS
from ..errors import MidnetError
from ..inference.settings import RestoreSettings
from . import _compare
from ._job import (DEFAULTS, ENGINES, FILE_CHOICE, INFOBAR_CHOICES, MODEL_CHOICES, PRECISIONS, Outcome, form_settings,
                   frames_of, run)

PROGRESS_STEPS = 1000
RESTORED_SUFFIX = " restored"


class _Relay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued Qt connection)."""

    progress = Signal(float)


class _CloseWatch(QObject):
    """Calls ``on_close`` when the widget is closed or taken out of its window (napari's dock 'x' un-parents it)."""

    def __init__(self, on_close):
        super().__init__()
        self._on_close = on_close

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Close or (event.type() == QEvent.ParentChange and watched.parent() is None):
            self._on_close()
        return False  # the widget still gets the event


class RestoreWidget(Container):
    """Restore an image layer with MIDNet (or a classical method) into a new layer; compare the two."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.worker = None  # the running (or last) thread worker
        self._busy = False  # from Restore until the worker's finished signal (is_running lags the thread pool)
        self.last_outcome: Outcome | None = None
        self._pair: tuple[Image, Image] | None = None
        self._profile_shapes = None  # the Shapes layer whose line events update the plot
        self._cancel = threading.Event()
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._build_form()
        self.plot = _compare.ProfilePlot()
        self.native.layout().addWidget(self.plot)
        self._close_watch = _CloseWatch(self._stop_run)  # closing the widget cancels its run
        self.native.installEventFilter(self._close_watch)

    # ------------------------------------------------------------------ form

    def _build_form(self) -> None:
        self.image = ComboBox(label="image", choices=self._image_layers)
        self.model = ComboBox(label="model", choices=MODEL_CHOICES, value=MODEL_CHOICES[0])
        self.weights = FileEdit(label="file", mode="r", filter="*.safetensors *.zip *.yaml", visible=False)
        self.infobar = ComboBox(label="info bar", choices=INFOBAR_CHOICES, value="auto")
        self.rows = SpinBox(label="bar rows", min=1, max=1_000_000, value=64, visible=False)
        self.tile = SpinBox(label="tile (0 = auto)", min=0, max=65_536, step=64, value=0)
        self.engine = ComboBox(label="engine", choices=ENGINES, value=DEFAULTS.engine)  # as `midnet deblur`
        self.precision = ComboBox(label="precision", choices=PRECISIONS, value=DEFAULTS.precision)
        self.restore_button = PushButton(text="Restore")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", min=0, max=PROGRESS_STEPS, value=0)
        self.compare_button = PushButton(text="Compare before/after")
        self.profile_button = PushButton(text="Line profile")
        run_row = Container(layout="horizontal", labels=False, widgets=[self.restore_button, self.cancel_button])
        look_row = Container(layout="horizontal", labels=False, widgets=[self.compare_button, self.profile_button])
        self.extend([self.image, self.model, self.weights, self.infobar, self.rows, self.tile, self.engine,
                     self.precision, run_row, self.progress, look_row])
        self.model.changed.connect(self._on_model)
        self.infobar.changed.connect(lambda value: setattr(self.rows, "visible", value == "rows"))
        self.restore_button.changed.connect(lambda: self.start())
        self.cancel_button.changed.connect(self.cancel)
        self.compare_button.changed.connect(self.toggle_compare)
        self.profile_button.changed.connect(self.show_profile)

    def _image_layers(self, _widget=None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _on_model(self, value: str) -> None:
        self.weights.visible = value == FILE_CHOICE
        network = value not in CLASSICAL_METHODS
        self.tile.enabled = network
        self.engine.enabled = network
        self.precision.enabled = network

    def settings(self) -> RestoreSettings:
        """The form as :class:`~midnet.inference.settings.RestoreSettings`; a MidnetError when a model file is asked for but
        not given."""
        model = self.model.value
        if model == FILE_CHOICE:
            path = Path(self.weights.value or "")
            if not str(self.weights.value or "").strip() or not path.exists():
                raise MidnetError(f"model file {str(path)!r} not found; choose a .safetensors weights file "
                                  "or a BMZ package of a midnet model")
            model = str(path)
        infobar = int(self.rows.value) if self.infobar.value == "rows" else self.infobar.value
        return form_settings(model, infobar, int(self.tile.value) or None, self.engine.value, self.precision.value)

    # ------------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        return self._busy

    def start(self, layer=None) -> None:
        """Restore ``layer`` (default: the chosen one) in a thread worker; errors become one notification."""
        if self.running:
            show_info("a restoration is already running: wait for it or press Cancel")
            return
        layer = self.image.value if layer is None else layer
        try:
            self._check_layer(layer)
            settings = self.settings()
        except MidnetError as exc:
            show_error(str(exc))
            return
        self._cancel = threading.Event()
        worker = thread_worker(run, start_thread=False)(layer.data, layer.rgb, settings, self._cancel,
                                                        self._relay.progress.emit)
        worker.returned.connect(partial(self._on_returned, layer, settings))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.progress.value = 0
        self.restore_button.enabled, self.cancel_button.enabled = False, True
        self._busy = True
        worker.start()

    @staticmethod
    def _check_layer(layer) -> None:
        if layer is None:
            raise MidnetError("no image layer to restore: open a micrograph (File > Open, or File > Open Sample "
                              "> midnet) first")
        if not isinstance(layer, Image):
            raise MidnetError(f"layer {layer.name!r} is a {type(layer).__name__} layer; midnet restores image "
                              "layers (micrographs)")
        if layer.multiscale:
            raise MidnetError(f"layer {layer.name!r} is multiscale (a pyramid); open its full-resolution level "
                              "as a plain image layer to restore it")
        frames_of(layer.data, layer.rgb)

    def cancel(self) -> None:
        """Stop the running restoration at its next tile (or frame); no layer is added."""
        self._cancel.set()
        self.cancel_button.enabled = False

    def _stop_run(self) -> None:
        self._cancel.set()  # only the flag: the widget's Qt parts may be on their way out

    def _on_progress(self, fraction: float) -> None:
        self.progress.value = int(round(min(max(fraction, 0.0), 1.0) * PROGRESS_STEPS))

    def _on_returned(self, layer: Image, settings: RestoreSettings, outcome: Outcome) -> None:
        self.last_outcome = outcome
        if outcome.status == "done":
            self._pair = (layer, self._add_result(layer, settings, outcome))
        elif outcome.status == "cancelled":
            self.progress.value = 0
            show_info(f"restoring {layer.name!r} cancelled; nothing was added")
        else:
            show_error(outcome.message)

    def _on_finished(self) -> None:
        self._busy = False
        self.restore_button.enabled, self.cancel_button.enabled = True, False

    def _add_result(self, layer: Image, settings: RestoreSettings, outcome: Outcome) -> Image:
        """The restored layer: named after the input, with its scale, translate, units and metadata.

        Its metadata's ``midnet`` entry is the restorer's provenance (what ran: the engine and
        precision ``auto`` chose, the weights' SHA-256, midnet's version), as every output file records.
        """
        metadata = dict(layer.metadata)
        metadata["midnet"] = {"restored_from": layer.name, "infobar": settings.infobar, **outcome.provenance}
        return self.viewer.add_image(
            outcome.array, name=layer.name + RESTORED_SUFFIX, rgb=layer.rgb, scale=layer.scale,
            translate=layer.translate, rotate=layer.rotate, shear=layer.shear, units=layer.units,
            axis_labels=layer.axis_labels, metadata=metadata, colormap=layer.colormap,
            contrast_limits=layer.contrast_limits, gamma=layer.gamma,
        )

    # ------------------------------------------------------------------ comparing

    def pair(self) -> tuple[Image, Image] | None:
        """(before, after): the last restoration, or the chosen layer and its "NAME restored" layer."""
        layers = self.viewer.layers
        if self._pair is not None and all(layer in layers for layer in self._pair):
            return self._pair
        before = self.image.value
        if before is not None and before.name + RESTORED_SUFFIX in layers:
            return before, layers[before.name + RESTORED_SUFFIX]
        return None

    def toggle_compare(self) -> None:
        """Side by side in a grid under one camera (linked zoom and pan); a second click goes back."""
        if _compare.grid(self.viewer).enabled:
            _compare.leave_side_by_side(self.viewer)
            return
        pair = self.pair()
        if pair is None:
            show_error("nothing to compare yet: restore an image first (or choose a layer that has a "
                       "'restored' twin)")
            return
        _compare.show_side_by_side(self.viewer, *pair)

    def show_profile(self) -> None:
        """A line (Shapes layer) over the pair and the before/after intensity profiles along it."""
        pair = self.pair()
        if pair is None:
            show_error("no profile yet: restore an image first, then press 'Line profile'")
            return
        shapes = _compare.profile_line_layer(self.viewer, pair[0])
        if shapes is not self._profile_shapes:
            if self._profile_shapes is None:
                self.viewer.dims.events.current_step.connect(self.update_profile)
            shapes.events.data.connect(self.update_profile)
            self._profile_shapes = shapes
        shapes.visible = True
        self.viewer.layers.selection.active = shapes
        shapes.mode = "direct"  # drag the end points
        self.update_profile()

    def update_profile(self, _event=None) -> None:
        pair = self.pair()
        if pair is None or _compare.PROFILE_LAYER not in self.viewer.layers:
            self.plot.set_profiles({}, 0.0, "")
            return
        shapes = self.viewer.layers[_compare.PROFILE_LAYER]
        if not len(shapes.data) or len(shapes.data[0]) < 2:
            self.plot.set_profiles({}, 0.0, "")
            return
        line = np.array([shapes.data_to_world(v) for v in shapes.data[0][:2]])
        point = np.asarray(self.viewer.dims.point)
        curves = {"before": _compare.sample_profile(pair[0], line, point),
                  "after": _compare.sample_profile(pair[1], line, point)}
        unit = str(pair[0].units[-1]) if getattr(pair[0], "units", None) is not None else ""
        self.plot.set_profiles(curves, float(np.linalg.norm(line[1, -2:] - line[0, -2:])), unit)
