"""The plugin's manifest, reader and sample data through npe2 and napari's ViewerModel (no canvas, no OpenGL)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

napari = pytest.importorskip("napari")  # the napari extra is optional: without it, this module skips
npe2 = pytest.importorskip("npe2")

import tifffile  # noqa: E402
from napari.components import ViewerModel  # noqa: E402

from midnet.napari._reader import get_reader  # noqa: E402

PLANE = (np.arange(48 * 64).reshape(48, 64) % 251).astype(np.uint8)


def _tescan_tag(text: str) -> bytes:
    # the block chain of Gwyddion's tescan.c: uint32 size (type included), uint16 type, data; 2 = MAIN, 0 = last
    return struct.pack("<IH", len(text) + 2, 2) + text.encode() + struct.pack("<IH", 2, 0)


VENDOR_TAGS = {  # each vendor's layout, as written by the microscope software (see midnet/images/metadata.py)
    "fei": ([(34682, "s", 0, "[Scan]\r\nPixelWidth=2.5e-09\r\nPixelHeight=2.5e-09\r\n", True)], 2.5),
    "zeiss": ([(34118, "s", 0, "AP_PIXEL_SIZE\r\nPixel Size = 7.5 nm\r\n", True)], 7.5),
    "tescan": ([(50431, 1, 0, b"", True)], 4.96),  # filled in below (BYTE data needs its length)
}


def _write_vendor(path, vendor: str, data=PLANE):
    tags, nm = VENDOR_TAGS[vendor]
    if vendor == "tescan":
        raw = _tescan_tag("Device=MIRA3\r\nPixelSizeX=4.96e-009\r\nPixelSizeY=4.96e-009\r\n")
        tags = [(50431, 1, len(raw), raw, True)]
    tifffile.imwrite(path, data, extratags=tags, photometric="minisblack")  # a 3-page stack, not planar RGB
    return nm


@pytest.fixture(autouse=True)
def _midnet_plugin(npe2pm):
    """npe2's own fixture: a clean plugin manager for the test, with midnet's installed manifest registered."""
    npe2pm.register(npe2.PluginManifest.from_distribution("midnet"))
    return npe2pm


def test_the_manifest_validates_and_its_commands_import():
    manifest = npe2.PluginManifest.from_distribution("midnet")  # found through the napari.manifest entry point
    manifest.validate_imports()
    assert {w.display_name for w in manifest.contributions.widgets} == {"Restore micrographs"}
    assert [r.command for r in manifest.contributions.readers] == ["midnet.get_reader"]
    assert [s.key for s in manifest.contributions.sample_data] == ["sem-blurry"]


@pytest.mark.parametrize("vendor", sorted(VENDOR_TAGS))
def test_the_reader_sets_the_scale_from_vendor_tags(tmp_path, vendor):
    nm = _write_vendor(tmp_path / f"{vendor}.tif", vendor)
    viewer = ViewerModel()
    [layer] = viewer.open(tmp_path / f"{vendor}.tif", plugin="midnet")
    np.testing.assert_allclose(layer.scale, (nm, nm))
    assert [str(u) for u in layer.units] == ["nanometer", "nanometer"]
    np.testing.assert_array_equal(layer.data, PLANE)
    assert layer.metadata["pixel_size_nm"] == pytest.approx(nm)


def test_a_stack_gets_a_slider_axis_and_the_pixel_size(tmp_path):
    stack = np.stack([PLANE, PLANE[::-1], PLANE[:, ::-1]])
    nm = _write_vendor(tmp_path / "stack.tif", "fei", data=stack)
    [layer] = ViewerModel().open(tmp_path / "stack.tif", plugin="midnet")
    assert layer.data.shape == stack.shape and not layer.rgb
    np.testing.assert_allclose(layer.scale, (1.0, nm, nm))


def test_a_tiff_without_a_pixel_size_opens_at_one_unit_per_pixel(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", PLANE)
    [layer] = ViewerModel().open(tmp_path / "plain.tif", plugin="midnet")
    np.testing.assert_allclose(layer.scale, (1.0, 1.0))
    assert layer.metadata["pixel_size_nm"] is None


def test_the_reader_declines_what_is_not_a_tiff(tmp_path):
    (tmp_path / "fake.tif").write_bytes(b"GIF89a not a tiff at all")
    assert get_reader(str(tmp_path / "fake.tif")) is None
    assert get_reader(str(tmp_path / "image.png")) is None
    assert get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None


def test_a_tiff_signature_with_no_readable_header_is_left_to_other_readers(tmp_path):
    # the signature alone used to be enough: napari then ran midnet's reader and showed its error dialog
    (tmp_path / "header.tif").write_bytes(b"II*\x00\xff\xff\xff\x7f" + bytes(32))  # first IFD far past the end
    assert get_reader(str(tmp_path / "header.tif")) is None


def test_a_broken_tiff_is_one_notification_line_and_no_exception(tmp_path):
    from napari.utils.notifications import NotificationSeverity, notification_manager

    tifffile.imwrite(tmp_path / "cut.tif", PLANE)
    whole = (tmp_path / "cut.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(whole[: len(whole) // 2])  # a transfer that stopped half-way
    assert get_reader(str(tmp_path / "cut.tif")) is not None  # the header parses; the pixels are cut short
    start = len(notification_manager.records)
    viewer = ViewerModel()
    # an exception here is what napari turns into a ReaderPluginError dialog with a traceback button
    assert viewer.open(tmp_path / "cut.tif", plugin="midnet") == []
    assert len(viewer.layers) == 0
    errors = [str(n.message) for n in notification_manager.records[start:] if n.severity == NotificationSeverity.ERROR]
    assert len(errors) == 1 and "cut.tif" in errors[0] and "\n" not in errors[0]


def test_the_sample_micrograph_opens():
    [layer] = ViewerModel().open_sample("midnet", "sem-blurry")
    assert layer.data.shape == (448, 640) and layer.data.dtype == np.uint8
