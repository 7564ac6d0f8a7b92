"""The dock widget in a real napari viewer (make_napari_viewer, Qt offscreen): restore, cancel, errors, compare."""

from __future__ import annotations

import numpy as np
import pytest

napari = pytest.importorskip("napari")  # the napari extra is optional: without it, this module skips

from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

import midnet  # noqa: E402
from midnet.inference.settings import EXACT, RestoreSettings
from midnet.napari._compare import grid  # noqa: E402
from midnet.napari._job import FILE_CHOICE  # noqa: E402
from midnet.napari._widget import RestoreWidget  # noqa: E402
from midnet.inference.restore import make_restorer  # noqa: E402
from tests.conftest import smooth_image  # noqa: E402

WAIT_MS = 120_000  # a 2-core CI machine shared with other jobs; the runs themselves take seconds


def _widget(viewer) -> RestoreWidget:
    widget = RestoreWidget(viewer)
    viewer.window.add_dock_widget(widget, name="midnet")
    return widget


def _run(qtbot, widget: RestoreWidget, layer=None):
    widget.image.reset_choices()
    if layer is not None:
        widget.image.value = layer
    widget.start()
    assert widget.worker is not None, "Restore did not start a worker"
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    qtbot.wait(20)  # the worker's returned signal is delivered through the event loop
    return widget.last_outcome


def _errors_since(start: int) -> list[str]:
    return [str(n.message) for n in notification_manager.records[start:] if n.severity == NotificationSeverity.ERROR]


@pytest.mark.slow
def test_restores_a_real_micrograph_like_midnet_deblur(viewer, qtbot, sem_pairs):
    from PIL import Image as PILImage

    frame = np.asarray(PILImage.open(sem_pairs / "blur" / "3-1.png"))[..., 0]
    # 256 rows of micrograph over the 64-row info bar (the bar must stay under 30% of the height to be detected)
    crop = np.ascontiguousarray(frame[704:1024, 512:832])
    layer = viewer.add_image(crop, name="3-1", scale=(4.0, 4.0), translate=(10.0, -5.0),
                             metadata={"source": "3-1.png"})
    widget = _widget(viewer)
    # the widget's defaults are auto (as `midnet deblur`), deblur()'s are torch fp32: name one engine and
    # precision for both, so the two runs are the same computation
    widget.engine.value, widget.precision.value = "torch", "fp32"
    outcome = _run(qtbot, widget, layer)
    assert outcome.status == "done", outcome.message
    result = viewer.layers["3-1 restored"]
    expected = midnet.deblur(crop, model="midnet-sem", infobar="auto", **EXACT)
    assert result.data.dtype == crop.dtype
    # the same restorer code on the same CPU in another thread: bit for bit, not "close"
    np.testing.assert_array_equal(result.data, expected)
    assert not np.array_equal(result.data[:256], crop[:256]), "the micrograph was not restored"
    np.testing.assert_array_equal(result.data[256:], crop[256:])  # the info bar, untouched
    np.testing.assert_array_equal(result.scale, layer.scale)
    np.testing.assert_array_equal(result.translate, layer.translate)
    assert result.metadata["source"] == "3-1.png"
    made = result.metadata["midnet"]
    assert (made["engine"], made["precision"], made["model"]) == ("torch", "fp32", "midnet-sem")
    assert made["weights_sha256"] == make_restorer(RestoreSettings.exact(model="midnet-sem")).provenance["weights_sha256"]


def test_a_stack_is_restored_frame_by_frame_with_the_input_geometry(viewer, qtbot):
    stack = np.stack([np.round(smooth_image(48, 64, seed=s) * 4000).astype(np.uint16) for s in range(3)])
    layer = viewer.add_image(stack, name="series", scale=(2.0, 5.0, 5.0), translate=(0.0, 3.0, 4.0),
                             metadata={"operator": "lab"})
    widget = _widget(viewer)
    widget.model.value = "unsharp"
    widget.infobar.value = "none"
    outcome = _run(qtbot, widget, layer)
    assert outcome.status == "done", outcome.message
    result = viewer.layers["series restored"]
    expected = np.stack([midnet.deblur(f, method="unsharp", infobar="none") for f in stack])
    assert result.data.dtype == np.uint16
    np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal(result.scale, layer.scale)
    np.testing.assert_array_equal(result.translate, layer.translate)
    assert result.metadata["operator"] == "lab" and result.metadata["midnet"]["method"] == "unsharp"
    assert widget.progress.value == widget.progress.max


def test_cancel_stops_a_tiled_run_mid_frame(viewer, qtbot):
    image = np.round(smooth_image(256, 256) * 255).astype(np.uint8)
    layer = viewer.add_image(image, name="big")
    widget = _widget(viewer)
    widget.tile.value = 64  # 64-px tiles with two passes: about a hundred tiles for this one frame
    widget.infobar.value = "none"
    widget.engine.value = "torch"  # the default, auto, would first measure the engines (tens of seconds here)
    widget._relay.progress.connect(lambda _fraction: widget.cancel())  # Cancel as soon as the first tile reports
    outcome = _run(qtbot, widget, layer)
    assert outcome.status == "cancelled"
    assert 1 <= outcome.tiles < outcome.tiles_total, f"{outcome.tiles} of {outcome.tiles_total} tiles ran"
    assert [lay.name for lay in viewer.layers] == ["big"]
    assert widget.restore_button.enabled and not widget.cancel_button.enabled


def test_the_defaults_and_choices_are_those_of_midnet_deblur(viewer):
    from midnet.cli import cli

    options = {p.name: p for p in cli.commands["deblur"].params}
    widget = _widget(viewer)
    for name in ("engine", "precision"):
        field = getattr(widget, name)
        assert field.value == options[name].default, f"{name}: the widget and the command line differ"
        assert set(field.choices) == set(options[name].type.choices)


def test_the_result_records_the_engine_and_precision_that_ran(viewer, qtbot, monkeypatch):
    from midnet.inference import engine_choice

    asked = []

    def choose(net, precision):  # what measuring would pick, without measuring (seconds on a busy CI machine)
        asked.append(precision)
        return engine_choice.Choice("torch", "fp32", measured=False)

    monkeypatch.setattr(engine_choice, "choose_engine", choose)
    image = np.round(smooth_image(48, 64) * 255).astype(np.uint8)
    layer = viewer.add_image(image, name="small")
    widget = _widget(viewer)
    widget.infobar.value = "none"
    assert (widget.engine.value, widget.precision.value) == ("auto", "auto")
    outcome = _run(qtbot, widget, layer)
    assert outcome.status == "done", outcome.message
    assert asked == ["auto"]
    made = viewer.layers["small restored"].metadata["midnet"]
    # what ran, not what the form said ("auto"): the same record every output file of midnet deblur gets
    exact = make_restorer(RestoreSettings.exact(model="midnet-sem")).provenance
    assert made == {"restored_from": "small", "infobar": "none", **exact}
    assert (made["engine"], made["precision"]) == ("torch", "fp32") and len(made["weights_sha256"]) == 64


def test_closing_the_widget_cancels_its_run(viewer, qtbot):
    image = np.round(smooth_image(256, 256) * 255).astype(np.uint8)
    layer = viewer.add_image(image, name="big")
    widget = RestoreWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="midnet")
    widget.tile.value = 64  # about a hundred tiles: the run is still going when the dock closes
    widget.infobar.value = "none"
    widget.engine.value = "torch"  # not auto: no measuring first
    widget.image.reset_choices()
    widget.image.value = layer
    widget.start()
    dock.destroyOnClose()  # what the dock's 'x' button does
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    qtbot.wait(20)
    assert widget.last_outcome.status == "cancelled"  # before its first tile, or within one tile
    assert [lay.name for lay in viewer.layers] == ["big"]


def test_a_labels_layer_is_refused_with_one_line(viewer):
    labels = viewer.add_labels(np.zeros((32, 32), np.uint8), name="mask")
    widget = _widget(viewer)
    start = len(notification_manager.records)
    widget.start(labels)
    errors = _errors_since(start)
    assert len(errors) == 1 and "Labels layer" in errors[0] and "\n" not in errors[0]
    assert widget.worker is None and len(viewer.layers) == 1


def test_a_4d_image_is_refused_with_one_line(viewer):
    layer = viewer.add_image(np.zeros((2, 3, 32, 32), np.uint8), name="tzyx")
    widget = _widget(viewer)
    start = len(notification_manager.records)
    widget.start(layer)
    errors = _errors_since(start)
    assert len(errors) == 1 and "4-D" in errors[0] and "\n" not in errors[0]
    assert widget.worker is None


def test_an_unreadable_weights_file_is_one_notification(viewer, qtbot, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a safetensors file")
    layer = viewer.add_image(np.zeros((64, 64), np.uint8), name="img")
    widget = _widget(viewer)
    widget.model.value = FILE_CHOICE
    widget.weights.value = bad
    start = len(notification_manager.records)
    outcome = _run(qtbot, widget, layer)
    assert outcome.status == "error"
    errors = _errors_since(start)
    assert len(errors) == 1 and "broken.safetensors" in errors[0] and "\n" not in errors[0]
    assert len(viewer.layers) == 1


def test_compare_and_profile_show_the_pair(viewer, qtbot):
    edge = np.full((64, 96), 60, np.uint8)
    edge[:, 48:] = 190  # a vertical step edge, blurred: unsharp masking must steepen it
    from scipy.ndimage import gaussian_filter

    blurred = np.round(gaussian_filter(edge.astype(float), 3)).astype(np.uint8)
    before = viewer.add_image(blurred, name="edge")
    viewer.add_image(np.zeros((8, 8), np.uint8), name="unrelated")
    widget = _widget(viewer)
    widget.model.value = "unsharp"
    widget.infobar.value = "none"
    assert _run(qtbot, widget, before).status == "done"
    after = viewer.layers["edge restored"]

    widget.toggle_compare()
    assert grid(viewer).enabled
    assert [lay.name for lay in viewer.layers if lay.visible] == ["edge", "edge restored"]
    layers = list(viewer.layers)
    boxes = {grid(viewer).position(layers.index(lay), layers) for lay in (before, after)}
    assert len(boxes) == 2, "before and after share one view box"

    widget.show_profile()
    curves = widget.plot.curves
    assert set(curves) == {"before", "after"} and curves["before"].size == curves["after"].size > 10
    steepest = {k: np.abs(np.diff(v.astype(float))).max() for k, v in curves.items()}
    assert steepest["after"] > steepest["before"]  # the profile crosses the edge, and it got sharper

    widget.toggle_compare()
    assert not grid(viewer).enabled


def test_the_widget_is_in_the_plugins_menu(viewer):
    def texts(menu):
        for action in menu.actions():
            yield action.text()
            if action.menu() is not None:
                yield from texts(action.menu())

    assert "Restore micrographs (midnet)" in set(texts(viewer.window.plugins_menu))
    _, widget = viewer.window.add_plugin_dock_widget("midnet", "Restore micrographs")
    assert isinstance(widget, RestoreWidget)
    late = viewer.add_image(np.zeros((20, 20), np.uint8), name="late")
    viewer.add_labels(np.zeros((20, 20), np.uint8), name="mask")
    assert list(widget.image.choices) == [late]  # the docked combo follows the layer list, image layers only
