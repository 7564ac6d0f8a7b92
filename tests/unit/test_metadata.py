"""midnet.images.metadata.pixel_size_nm on generated files: FEI, Zeiss, JEOL/Hitachi sidecars, ImageJ, DPI."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from midnet.images.io import read_image
from midnet.images.metadata import pixel_size_nm

A = np.zeros((16, 16), np.uint8)


def _tif(path, **kw):
    tifffile.imwrite(path, A, **kw)
    return read_image(path)


def test_fei_pixel_width_in_metres(tmp_path):
    text = "[User]\nDate=04/02/2024\n[Scan]\nPixelWidth=1.5e-08\nPixelHeight=1.5e-08\n"
    img = _tif(tmp_path / "fei.tif", extratags=[(34682, "s", 0, text, True)])
    assert pixel_size_nm(img) == pytest.approx(15.0)


def test_fei_sfeg_tag(tmp_path):
    img = _tif(tmp_path / "sfeg.tif", extratags=[(34680, "s", 0, "[Scan]\nPixelWidth=2.4e-09\n", True)])
    assert pixel_size_nm(img) == pytest.approx(2.4)


def test_zeiss_cz_sem(tmp_path):
    text = "\r\nAP_PIXEL_SIZE\r\nPixel Size = 3.964 nm\r\nAP_WD\r\nWD = 8.5 mm\r\n"
    img = _tif(tmp_path / "zeiss.tif", extratags=[(34118, "s", 0, text, True)])
    assert pixel_size_nm(img) == pytest.approx(3.964)


def test_zeiss_in_micrometres(tmp_path):
    text = b"AP_PIXEL_SIZE\r\nPixel Size = 0.25 \xb5m\r\n"  # Zeiss writes the micro sign in Latin-1
    img = _tif(tmp_path / "z.tif", extratags=[(34118, 1, len(text), text, True)])
    assert pixel_size_nm(img) == pytest.approx(250.0)


def test_jeol_sidecar(tmp_path):
    Image.fromarray(A).save(tmp_path / "j.png")
    (tmp_path / "j.txt").write_text("$CM_MAG 8000\n$$SM_MICRON_BAR 160\n$$SM_MICRON_MARKER 2um\n")
    assert pixel_size_nm(read_image(tmp_path / "j.png")) == pytest.approx(12.5)


def test_hitachi_sidecar(tmp_path):
    Image.fromarray(A).save(tmp_path / "h.png")
    (tmp_path / "h.txt").write_text("[SemImageFile]\nMagnification=8000\nPixelSize=4.96063\n")
    assert pixel_size_nm(read_image(tmp_path / "h.png")) == pytest.approx(4.96063)


def test_imagej_unit_with_resolution(tmp_path):
    img = _tif(tmp_path / "ij.tif", imagej=True, resolution=(50.0, 50.0), metadata={"unit": "micron"})
    assert pixel_size_nm(img) == pytest.approx(20.0)


def test_resolution_in_centimetres(tmp_path):
    img = _tif(tmp_path / "cm.tif", resolution=(1e6, 1e6), resolutionunit=3)  # 10 nm pixels
    assert pixel_size_nm(img) == pytest.approx(10.0)


@pytest.mark.parametrize("dpi", [72, 300])
def test_display_dpi_is_not_a_pixel_size(tmp_path, dpi):
    assert pixel_size_nm(_tif(tmp_path / "d.tif", resolution=(dpi, dpi), resolutionunit=2)) is None
    Image.fromarray(A).save(tmp_path / "d.png", dpi=(dpi, dpi))
    assert pixel_size_nm(read_image(tmp_path / "d.png")) is None


def test_nothing_known(tmp_path):
    Image.fromarray(A).save(tmp_path / "n.png")
    assert pixel_size_nm(read_image(tmp_path / "n.png")) is None
    (tmp_path / "n.txt").write_text("garbage $$SM_MICRON_BAR zero\n")
    assert pixel_size_nm(read_image(tmp_path / "n.png")) is None


def _tescan_blocks(main_text: str) -> bytes:
    """Tag 50431 as Gwyddion's tescan.c reads it: blocks of uint32 size (type included), uint16 type, data."""
    import struct

    def block(kind: int, data: bytes) -> bytes:
        return struct.pack("<IH", len(data) + 2, kind) + data

    thumbnail = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"\xff\xd9"  # stands in for the JPEG preview
    return block(1, thumbnail) + block(2, main_text.encode("latin-1")) + block(0, b"")


def test_tescan_tag_50431(tmp_path):
    # Windows printf writes three exponent digits; MAIN starts right after the binary block header
    main = ("AccFrames=4\r\nDate=2019-03-05\r\nDevice=MIRA3 LMH\r\nMagnification=25000\r\n"
            "PixelSizeX=4.96e-009\r\nPixelSizeY=4.96e-009\r\nUserName=lab\r\n")
    raw = _tescan_blocks(main)
    img = _tif(tmp_path / "tescan.tif", extratags=[(50431, 1, len(raw), raw, True)])
    assert pixel_size_nm(img) == pytest.approx(4.96)


def test_tescan_pixel_size_first_in_its_block(tmp_path):
    raw = _tescan_blocks("PixelSizeX=1.2e-08\r\nPixelSizeY=1.2e-08\r\n")
    img = _tif(tmp_path / "t.tif", extratags=[(50431, 1, len(raw), raw, True)])
    assert pixel_size_nm(img) == pytest.approx(12.0)


def test_tescan_other_keys_are_not_the_pixel_size(tmp_path):
    raw = _tescan_blocks("ImagePixelSizeX=3e-09\r\nPixelSizeY=5e-09\r\n")  # neither is PixelSizeX
    img = _tif(tmp_path / "t.tif", extratags=[(50431, 1, len(raw), raw, True)])
    assert pixel_size_nm(img) is None


@pytest.mark.parametrize("header", ["s-png.hdr", "s.hdr"])
def test_tescan_header_beside_a_png(tmp_path, header):
    Image.fromarray(A).save(tmp_path / "s.png")
    (tmp_path / header).write_text("[MAIN]\r\nDevice=VEGA3\r\nPixelSizeX=2.5e-008\r\nPixelSizeY=2.5e-008\r\n")
    assert pixel_size_nm(read_image(tmp_path / "s.png")) == pytest.approx(25.0)
