"""Screenshot of the napari plugin at work, for docs/images/napari_widget.png.

A real napari window (Qt's xcb platform) on a virtual X server: the micrograph, the
Restore widget opened from the plugin menu's contribution, the restored layer beside
the input in grid mode, and the line profile across the yellow line.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/napari_screenshot.py

Needs `pip install "midnet[napari]"`, Xvfb, and Qt's xcb libraries (Debian:
apt-get install xvfb libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _wait(app, until, timeout_s: float = 300.0) -> None:
    end = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the restoration")
        app.processEvents()
        time.sleep(0.02)


def _settle(app, seconds: float = 1.0) -> None:
    """Let the canvas, the dock and the plot paint."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=REPO / "midnet" / "samples" / "sem_blurry_sample.png",
                        help="micrograph to show (default: the shipped sample, a real JEOL micrograph)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "napari_widget.png")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        raise SystemExit("no X display: run under xvfb-run (see this script's docstring)")

    import napari
    from qtpy.QtWidgets import QApplication

    from midnet.images.io import read_image

    viewer = napari.Viewer(title="midnet in napari", show=True)
    viewer.window.resize(1500, 900)
    image = read_image(args.image).array
    layer = viewer.add_image(image if image.ndim == 2 else image[..., 0], name=args.image.stem)
    _, widget = viewer.window.add_plugin_dock_widget("midnet", "Restore micrographs")
    app = QApplication.instance()
    widget.image.reset_choices()
    widget.image.value = layer
    widget.start()
    _wait(app, lambda: not widget.running)
    if widget.last_outcome is None or widget.last_outcome.status != "done":
        raise SystemExit(f"restoring failed: {widget.last_outcome}")
    widget.toggle_compare()
    widget.show_profile()
    shapes = viewer.layers["midnet profile"]
    h, w = layer.data.shape[:2]
    shapes.data = [np.array([[h * 0.40, w * 0.30], [h * 0.40, w * 0.55]])]  # across grain boundaries
    viewer.layers.selection.active = widget.pair()[1]
    _settle(app)
    from napari._qt.dialogs.qt_notification import NapariQtNotification  # private: only to clear the toasts

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # start-up notices (e.g. about the Qt backend) would cover the canvas
    _settle(app)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False)
    print(f"wrote {args.out} ({widget.last_outcome.tiles} tile callbacks)")
    viewer.close()


if __name__ == "__main__":
    sys.exit(main())
