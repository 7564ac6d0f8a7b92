"""Unit tests for midnet.io: decoding files of every supported kind, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from midnet.errors import MidnetError
from midnet.io import dtype_range, read_image, to_gray_float

from ..conftest import smooth_image


def _gray8(h: int = 24, w: int = 31) -> np.ndarray:
    return (smooth_image(h, w, seed=3) * 255).round().astype(np.uint8)


def _gray16(h: int = 24, w: int = 31) -> np.ndarray:
    a = (smooth_image(h, w, seed=4) * 65535).round().astype(np.uint16)
    a[0, 0], a[0, 1] = 65535, 300  # full scale and a value above 255 for sure
    return a


def _rgb(h: int = 24, w: int = 31, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)


# ---------------------------------------------------------------- decoding


def test_png_gray8(tmp_path):
    a = _gray8()
    p = tmp_path / "g8.png"
    Image.fromarray(a, mode="L").save(p)
    img = read_image(p)
    assert img.array.dtype == np.uint8
    assert img.array.shape == a.shape
    np.testing.assert_array_equal(img.array, a)
    assert img.format == "png"
    assert img.path == p


def test_png_gray16_keeps_values_above_255(tmp_path):
    a = _gray16()
    assert a.max() > 255
    p = tmp_path / "g16.png"
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    im.save(p)
    img = read_image(p)
    assert img.array.dtype == np.uint16
    assert img.array.shape == a.shape
    np.testing.assert_array_equal(img.array, a)


def test_png_rgb(tmp_path):
    a = _rgb()
    p = tmp_path / "rgb.png"
    Image.fromarray(a, mode="RGB").save(p)
    img = read_image(p)
    assert img.array.dtype == np.uint8
    assert img.array.shape == a.shape
    np.testing.assert_array_equal(img.array, a)


def test_png_rgba(tmp_path):
    a = _rgb(channels=4)
    p = tmp_path / "rgba.png"
    Image.fromarray(a, mode="RGBA").save(p)
    img = read_image(p)
    assert img.array.dtype == np.uint8
    assert img.array.shape == a.shape
    np.testing.assert_array_equal(img.array, a)


@pytest.mark.parametrize(
    "array",
    [_gray8(), _gray16(), smooth_image(24, 31, seed=6)],
    ids=["uint8", "uint16", "float32"],
)
@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_tiff_roundtrip(tmp_path, array, suffix):
    p = tmp_path / f"img{suffix}"
    tifffile.imwrite(p, array)
    img = read_image(p)
    assert img.format == "tiff"
    assert img.array.dtype == array.dtype
    assert img.array.shape == array.shape
    np.testing.assert_array_equal(img.array, array)


def test_uppercase_suffix(tmp_path):
    a = _gray8()
    p = tmp_path / "UPPER.PNG"
    Image.fromarray(a).save(p, format="PNG")
    np.testing.assert_array_equal(read_image(p).array, a)


# ---------------------------------------------------------------- errors


def _png_bytes(tmp_path) -> bytes:
    p = tmp_path / "valid.png"
    Image.fromarray(_gray16(64, 80)).save(p)
    return p.read_bytes()


def test_missing_file(tmp_path):
    p = tmp_path / "absent.png"
    with pytest.raises(MidnetError, match="absent.png"):
        read_image(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(MidnetError, match="empty.png"):
        read_image(p)


def test_empty_tiff(tmp_path):
    p = tmp_path / "empty.tif"
    p.write_bytes(b"")
    with pytest.raises(MidnetError, match="empty.tif"):
        read_image(p)


def test_truncated_png(tmp_path):
    data = _png_bytes(tmp_path)
    p = tmp_path / "truncated.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MidnetError, match="truncated.png"):
        read_image(p)


def test_truncated_tiff(tmp_path):
    full = tmp_path / "full.tif"
    tifffile.imwrite(full, _gray16(64, 80))
    data = full.read_bytes()
    p = tmp_path / "cut.tif"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MidnetError, match="cut.tif"):
        read_image(p)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n" * 10)
    with pytest.raises(MidnetError, match="notes.png"):
        read_image(p)


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "anim.gif"
    Image.fromarray(_gray8()).save(p, format="GIF")
    with pytest.raises(MidnetError, match="anim.gif"):
        read_image(p)


def test_error_is_value_error(tmp_path):
    # the CLI and callers may catch ValueError; MidnetError must stay one
    with pytest.raises(ValueError):
        read_image(tmp_path / "nope.tif")


# ---------------------------------------------------------------- to_gray_float


def test_dtype_range():
    assert dtype_range(np.uint8) == 255.0
    assert dtype_range(np.uint16) == 65535.0
    assert dtype_range(np.float32) == 1.0


def test_to_gray_float_uint16_full_range():
    a = np.array([[0, 255, 32768, 65535]], dtype=np.uint16)
    out = to_gray_float(a)
    assert out.dtype == np.float32
    assert out.shape == a.shape
    assert out[0, 0] == 0.0
    assert out[0, 3] == 1.0
    # no 255 assumption: 255 counts in 16 bits is dark, not white
    assert out[0, 1] == pytest.approx(255 / 65535)
    assert out[0, 2] == pytest.approx(32768 / 65535)
    assert out.max() <= 1.0 and out.min() >= 0.0


def test_to_gray_float_uint8():
    a = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(to_gray_float(a), [[0.0, 0.2, 1.0]], atol=1e-7)


def test_to_gray_float_float_passes_through():
    a = smooth_image(10, 12, seed=7)
    np.testing.assert_array_equal(to_gray_float(a), a)


def test_to_gray_float_rgb_averaged():
    a = _rgb(8, 9)
    expected = a.astype(np.float64).mean(axis=2) / 255
    out = to_gray_float(a)
    assert out.shape == (8, 9)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_to_gray_float_rgba_ignores_alpha():
    a = _rgb(8, 9, channels=4)
    b = a.copy()
    b[..., 3] = 255 - b[..., 3]  # change only alpha
    out_a, out_b = to_gray_float(a), to_gray_float(b)
    assert out_a.shape == (8, 9)
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_allclose(out_a, a[..., :3].astype(np.float64).mean(axis=2) / 255, atol=1e-6)


def test_to_gray_float_rgb16():
    a = np.zeros((2, 2, 3), dtype=np.uint16)
    a[0, 0] = 65535
    a[1, 1] = (65535, 0, 0)
    out = to_gray_float(a)
    assert out[0, 0] == pytest.approx(1.0)
    assert out[1, 1] == pytest.approx(1 / 3)
    assert out[0, 1] == 0.0


def test_to_gray_float_nan_raises():
    a = smooth_image(6, 6)
    a[2, 3] = np.nan
    with pytest.raises(MidnetError, match="NaN"):
        to_gray_float(a)


def test_to_gray_float_inf_raises():
    a = smooth_image(6, 6)
    a[0, 0] = np.inf
    with pytest.raises(MidnetError):
        to_gray_float(a)


def test_read_then_gray_16bit_png(tmp_path):
    a = _gray16()
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    out = to_gray_float(read_image(p).array)
    np.testing.assert_allclose(out, a / 65535.0, atol=1e-6)
    assert out.max() == 1.0


def _png16_rgb(path, array):
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = array.shape
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_png_rgb16_refused_not_truncated(tmp_path):
    path = tmp_path / "colour16.png"
    _png16_rgb(path, np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000)
    with pytest.raises(MidnetError, match="16-bit colour PNG.*TIFF"):
        read_image(path)
    # an 8-bit RGB PNG of the same shape still reads
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "colour8.png")
    assert read_image(tmp_path / "colour8.png").array.dtype == np.uint8
