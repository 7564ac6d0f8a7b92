"""Unit tests for midnet.images.io: decoding files of every supported kind, errors naming the file."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import midnet.images.io
from midnet.errors import MidnetError
from midnet.images.io import MAX_PIXELS, check_finite, dtype_range, pixel_limit, read_image, to_gray_float, write_image

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


# ---------------------------------------------------------------- pixel limit (decompression bombs)


def _claims(tmp_path, width: int, height: int) -> Path:
    """A 64x64 zlib TIFF whose header is patched to claim ``width`` x ``height`` pixels (a bomb's header)."""
    import struct

    p = tmp_path / "bomb.tif"
    tifffile.imwrite(p, np.zeros((64, 64), np.uint8), compression="zlib", rowsperstrip=64, metadata=None)
    with tifffile.TiffFile(p) as tif:
        tags = tif.pages[0].tags
        where = [(tags[n].valueoffset, int(tags[n].dtype), v) for n, v in
                 (("ImageWidth", width), ("ImageLength", height), ("RowsPerStrip", height))]
    data = bytearray(p.read_bytes())
    for offset, dtype, value in where:
        struct.pack_into("<H" if dtype == 3 else "<I", data, offset, value)
    p.write_bytes(bytes(data))
    return p


def test_tiff_bomb_refused_from_header_before_decoding(tmp_path, monkeypatch):
    # the fuzzed file: 1.6 gigapixels behind a tiny zlib stream; decoding it took 12 GiB
    p = _claims(tmp_path, 40000, 40000)

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", no_decoding)
    with pytest.raises(MidnetError) as err:
        read_image(p)
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg and "40000x40000" in msg and "1,600,000,000" in msg
    assert f"{MAX_PIXELS:,}" in msg and "MIDNET_MAX_PIXELS=1600000000" in msg


def test_pixel_limit_keyword_environment_and_constant(tmp_path, monkeypatch):
    p = tmp_path / "g.tif"
    tifffile.imwrite(p, _gray8(64, 64))  # 4096 pixels
    assert read_image(p).array.shape == (64, 64)
    with pytest.raises(MidnetError, match="over the limit of 4,000"):
        read_image(p, max_pixels=4000)
    monkeypatch.setenv("MIDNET_MAX_PIXELS", "4000")
    with pytest.raises(MidnetError, match="MIDNET_MAX_PIXELS=4096"):
        read_image(p)
    assert read_image(p, max_pixels=4096).array.shape == (64, 64)  # the keyword wins over the environment
    monkeypatch.setenv("MIDNET_MAX_PIXELS", "4.096e3")
    assert pixel_limit() == 4096
    monkeypatch.delenv("MIDNET_MAX_PIXELS")
    monkeypatch.setattr(midnet.images.io, "MAX_PIXELS", 4000)
    with pytest.raises(MidnetError, match="4,096 pixels"):
        read_image(p)


@pytest.mark.parametrize("value", ["lots", "-5", "0"])
def test_pixel_limit_bad_environment_value(tmp_path, monkeypatch, value):
    p = tmp_path / "g.png"
    Image.fromarray(_gray8()).save(p)
    monkeypatch.setenv("MIDNET_MAX_PIXELS", value)
    with pytest.raises(MidnetError, match="MIDNET_MAX_PIXELS"):
        read_image(p)


def test_pixel_limit_counts_every_page_of_a_stack(tmp_path):
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, np.zeros((3, 20, 20), np.uint16), photometric="minisblack")
    assert read_image(p, max_pixels=1200).array.shape == (3, 20, 20)
    with pytest.raises(MidnetError, match="20x20 x 3 frames is 1,200 pixels"):
        read_image(p, max_pixels=1199)


def test_png_bomb_refused_from_ihdr(tmp_path):
    import zlib

    data = bytearray(_png_bytes(tmp_path))
    data[16:24] = (40000).to_bytes(4, "big") * 2  # IHDR width, height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # the chunk's CRC, so only the size is odd
    p = tmp_path / "bomb.png"
    p.write_bytes(bytes(data))
    with pytest.raises(MidnetError, match=r"bomb.png: 40000x40000 is 1,600,000,000 pixels, over the limit"):
        read_image(p)


@pytest.mark.parametrize("limit", [300, 500], ids=["pillow-error", "pillow-warning"])
def test_pillow_bomb_check_gives_our_one_line(tmp_path, limit):
    # 24x31 = 744 pixels: over twice 300 (Pillow raises) and between 500 and 1000 (Pillow warns)
    p = tmp_path / "g.jpg"
    Image.fromarray(_gray8()).save(p)
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MidnetError, match="g.jpg: .*MIDNET_MAX_PIXELS") as err:
            read_image(p, max_pixels=limit)
    assert "\n" not in str(err.value) and "DOS" not in str(err.value)
    assert Image.MAX_IMAGE_PIXELS == before


def test_our_limit_governs_pillow_too(tmp_path, monkeypatch):
    # were Pillow's own (global) limit in force, it would refuse this image: ours decides
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    p = tmp_path / "g.bmp"
    Image.fromarray(_gray8()).save(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(p).array.shape == (24, 31)
    assert Image.MAX_IMAGE_PIXELS == 100


# ---------------------------------------------------------------- compressed TIFF (imagecodecs)


@pytest.mark.parametrize("compression", ["lzw", "zstd", "jpeg"])
def test_compressed_tiff(tmp_path, compression):
    a = np.stack([_gray8(48, 64)] * 3, axis=-1) if compression == "jpeg" else _gray16(48, 64)
    p = tmp_path / f"{compression}.tif"
    tifffile.imwrite(p, a, compression=compression, photometric="rgb" if a.ndim == 3 else "minisblack")
    img = read_image(p)
    assert img.array.shape == a.shape and img.array.dtype == a.dtype and img.metadata["compressed"]
    if compression == "jpeg":  # lossy
        assert np.abs(img.array.astype(np.int16) - a).mean() < 3
    else:
        np.testing.assert_array_equal(img.array, a)


def test_missing_codec_says_what_to_install(tmp_path, monkeypatch):
    p = tmp_path / "lzw.tif"
    tifffile.imwrite(p, _gray8(), compression="lzw")

    def without_imagecodecs(*args, **kwargs):  # what tifffile raises when imagecodecs is absent
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", without_imagecodecs)
    with pytest.raises(MidnetError, match=r"lzw.tif: TIFF compressed with LZW needs the imagecodecs package; pip install"):
        read_image(p)


# ---------------------------------------------------------------- planar TIFF


@pytest.mark.parametrize("shape", [(3, 24, 31), (4, 24, 31), (2, 3, 24, 31)], ids=["rgb", "rgba", "rgb-stack"])
def test_planar_tiff_round_trip_stays_planar(tmp_path, shape, caplog):
    a = np.random.default_rng(8).integers(0, 256, size=shape, dtype=np.uint8)
    src, out = tmp_path / "planar.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, a, photometric="rgb", planarconfig="separate")  # with tifffile's shape description
    with warnings.catch_warnings(), caplog.at_level("WARNING", logger="tifffile"):
        warnings.simplefilter("error")
        img = read_image(src)
        assert img.array.shape == shape[:-3] + shape[-2:] + shape[-3:-2]  # handed out as (..., H, W, C)
        assert img.metadata["axes"].endswith("YXS")
        write_image(out, img.array, like=img)
        with tifffile.TiffFile(out) as tif:
            assert tif.pages[0].planarconfig == 2
            assert tif.series[0].shape == shape
            np.testing.assert_array_equal(tif.series[0].asarray(), a)
        np.testing.assert_array_equal(read_image(out).array, img.array)
    assert not [r for r in caplog.records if r.name == "tifffile"], caplog.text  # e.g. a stale shape description


# ---------------------------------------------------------------- NaN and Inf


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_nan_or_inf_is_one_error_no_warning(tmp_path, bad):
    a = smooth_image(24, 31, seed=9)
    a[3, 4] = bad
    p = tmp_path / "bad.tif"
    tifffile.imwrite(p, a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail here
        with pytest.raises(MidnetError, match="bad.tif: image holds NaN or infinite values"):
            read_image(p)


def test_check_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_finite(np.full((4, 4), 65535, np.uint16))
        check_finite(np.zeros((0, 3), np.float32))
        check_finite(np.full((4, 4), 3e38, np.float32), "big.tif")  # large but finite
        for dtype in (np.float16, np.float32, np.float64):
            a = np.ones((4, 4), dtype)
            a[1, 2] = np.nan
            with pytest.raises(MidnetError, match=r"^x.tif: image holds NaN"):
                check_finite(a, "x.tif")
        with pytest.raises(MidnetError, match=r"^image holds NaN"):
            check_finite(np.array([0.0, -np.inf]))


def test_to_gray_float_makes_one_float32_frame():
    a = _rgb(512, 512)
    tracemalloc.start()
    try:
        out = to_gray_float(a)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(out, a.astype(np.float64).mean(axis=2) / 255, atol=1e-6)
    assert peak < 1.25 * out.nbytes  # was: a float32 copy of every channel, the mean, and two more frames
