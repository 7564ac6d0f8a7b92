"""Before/after in napari: a grid of the two layers sharing one camera, and a line profile across an edge.

napari's grid mode puts each visible layer in its own view box under a single camera, so
the two images stay linked in zoom and pan with nothing to synchronise. napari has no
plot widget; the profile is drawn by :class:`ProfilePlot`, a small QPainter widget (two
polylines, no plotting library to install). The profiles are sampled by scikit-image's
``profile_line`` (bilinear, end points included) in each layer's own pixel grid, so a
restored layer with another scale or translate is still sampled at the same specimen point.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

PROFILE_LAYER = "midnet profile"
COLOURS = {"before": QColor(150, 150, 150), "after": QColor(255, 140, 0)}


def grid(viewer):
    """The viewer's grid settings: ``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


def show_side_by_side(viewer, before, after) -> None:
    """Grid mode with only ``before`` and ``after`` (and the profile line) visible: one camera for both."""
    for layer in viewer.layers:
        layer.visible = layer in (before, after) or layer.name == PROFILE_LAYER
    settings = grid(viewer)
    settings.stride = 1
    settings.shape = (1, 2)  # a third visible layer (the profile line) wraps onto the first box
    settings.enabled = True
    viewer.reset_view()


def leave_side_by_side(viewer) -> None:
    grid(viewer).enabled = False
    viewer.reset_view()


def default_line(layer) -> np.ndarray:
    """A horizontal line across the middle half of ``layer``, in world coordinates (the last two axes)."""
    lo, hi = np.asarray(layer.extent.world)[:, -2:]
    y = (lo[0] + hi[0]) / 2
    return np.array([[y, lo[1] + 0.25 * (hi[1] - lo[1])], [y, lo[1] + 0.75 * (hi[1] - lo[1])]])


def profile_line_layer(viewer, like):
    """The Shapes layer holding the profile line (made once, from ``like``'s extent)."""
    if PROFILE_LAYER in viewer.layers:
        return viewer.layers[PROFILE_LAYER]
    return viewer.add_shapes([default_line(like)], shape_type="line", edge_color="yellow", edge_width=2,
                             name=PROFILE_LAYER)


def _gray_plane(layer, point: np.ndarray) -> np.ndarray:
    """The 2-D frame of ``layer`` napari shows at world ``point``, as float gray."""
    data = layer.data
    lead = layer.ndim - 2
    if lead:
        index = np.clip(np.round(layer.world_to_data(point)[:lead]).astype(int), 0, np.array(data.shape[:lead]) - 1)
        data = data[tuple(index)]
    plane = np.asarray(data, dtype=np.float64)
    return plane[..., :3].mean(axis=-1) if layer.rgb else plane


def sample_profile(layer, line_world: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Intensities of ``layer`` along a 2-point line given in world coordinates (last two axes)."""
    from skimage.measure import profile_line

    ends = []
    for end in line_world:
        full = np.array(point, dtype=float)
        full[-2:] = end[-2:]
        ends.append(layer.world_to_data(full)[-2:])
    return profile_line(_gray_plane(layer, point), ends[0], ends[1], order=1, mode="reflect")


class ProfilePlot(QWidget):
    """Two intensity profiles (before grey, after orange) over distance along the line."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.curves: dict[str, np.ndarray] = {}
        self.length = 0.0  # along the line, in the layer's world units
        self.unit = ""
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_profiles(self, curves: dict[str, np.ndarray], length: float, unit: str) -> None:
        self.curves, self.length, self.unit = curves, float(length), unit
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        left, top, right, bottom = 40, 8, self.width() - 8, self.height() - 22
        painter.setPen(QPen(QColor(120, 120, 120)))
        painter.drawRect(left, top, right - left, bottom - top)
        values = [c for c in self.curves.values() if c.size > 1]
        if not values:
            painter.drawText(left + 6, top + 16, "Line profile: press 'Line profile' and move the yellow line")
            return
        lo = min(float(c.min()) for c in values)
        hi = max(float(c.max()) for c in values)
        span = (hi - lo) or 1.0
        for name, curve in self.curves.items():
            if curve.size < 2:
                continue
            xs = left + np.arange(curve.size) / (curve.size - 1) * (right - left)
            ys = bottom - (curve - lo) / span * (bottom - top)
            painter.setPen(QPen(COLOURS.get(name, QColor("white")), 1.5))
            painter.drawPolyline(QPolygonF([QPointF(float(x), float(y)) for x, y in zip(xs, ys)]))
        painter.setPen(QPen(QColor(200, 200, 200)))
        painter.drawText(2, top + 10, f"{hi:.0f}")
        painter.drawText(2, bottom, f"{lo:.0f}")
        painter.drawText(left, self.height() - 6, f"0 - {self.length:.4g} {self.unit}".rstrip())
        for i, name in enumerate(self.curves):
            painter.setPen(QPen(COLOURS.get(name, QColor("white"))))
            painter.drawText(right - 110 + 55 * i, self.height() - 6, name)
        painter.end()

    def sizeHint(self):  # noqa: N802
        hint = super().sizeHint()
        hint.setHeight(160)
        return hint

