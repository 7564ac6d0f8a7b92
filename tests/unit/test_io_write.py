"""write_image / read_image round trips: dtype, layout and metadata survive a restoration.

16-bit stays 16-bit; PNG text chunks and DPI, TIFF description, resolution and private
vendor tags are written back; BigTIFF and multi-page TIFF stay readable; writes are
atomic (a temporary file renamed, none left behind).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, PngImagePlugin

from midnet.batch import restore_pages
from midnet.errors import MidnetError
from midnet.io import ImageData, read_image, write_image

from ..conftest import smooth_image

FEI_TEXT = "[User]\nDate=04/02/2024\nTime=10:11:12 AM\n[Beam]\nHV=20000\n[Scan]\nPixelWidth=1.5e-08\n"
BYTE_VALUE = bytes([1, 2, 3, 250, 251, 252])  # stored outside the IFD entry
SHORT_BYTES = bytes([9, 8])  # small enough to sit inside the IFD entry
SHORT_VALUE = (7, 65535, 300)


def gray8(h: int = 40, w: int = 52) -> np.ndarray:
    return np.round(smooth_image(h, w, seed=2) * 255).astype(np.uint8)


def gray16(h: int = 40, w: int = 52) -> np.ndarray:
    a = np.round(smooth_image(h, w, seed=3) * 65535).astype(np.uint16)
    a[0, 0] = 65535
    return a


def rgb8(h: int = 40, w: int = 52) -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def leftovers(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp") or ".tmp" in n]


def vendor_tiff(path: Path, array: np.ndarray, bigtiff: bool = False) -> Path:
    tifffile.imwrite(
        path, array, bigtiff=bigtiff, photometric="minisblack", metadata=None,
        description="SEM HV=20kV Mag=8000x", resolution=(2000.0, 4000.0), resolutionunit="CENTIMETER",
        extratags=[
            (34680, "s", 0, FEI_TEXT, True),  # FEI/Thermo metadata, ASCII
            (65000, "B", len(BYTE_VALUE), BYTE_VALUE, True),
            (65001, "H", len(SHORT_VALUE), SHORT_VALUE, True),
            (65002, "B", len(SHORT_BYTES), SHORT_BYTES, True),
        ],
    )
    return path


def tags_of(path: Path) -> dict[int, tuple[int, object]]:
    with tifffile.TiffFile(path) as tif:
        return {t.code: (int(t.dtype), t.value) for t in tif.pages[0].tags.values()}


def raw_ascii(path: Path, code: int) -> str:
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags[code]
        tif.filehandle.seek(tag.valueoffset)
        return tif.filehandle.read(tag.valuebytecount).rstrip(b"\0").decode("latin-1")


# ---------------------------------------------------------------- PNG


def test_16bit_png_stays_16bit(tmp_path):
    a = gray16()
    src = tmp_path / "in.png"
    Image.fromarray(a).save(src)
    img = read_image(src)
    assert img.array.dtype == np.uint16
    out = write_image(tmp_path / "out.png", img.array, like=img)
    back = read_image(out)
    assert back.array.dtype == np.uint16
    np.testing.assert_array_equal(back.array, a)
    with Image.open(out) as im:
        assert im.mode.startswith("I")  # a 16-bit PNG, not an 8-bit one
    assert not leftovers(tmp_path)


def test_png_text_chunks_and_dpi_are_kept(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "JEOL JSM-7800F")
    info.add_text("Magnification", "x8,000")
    src = tmp_path / "in.png"
    Image.fromarray(gray8()).save(src, pnginfo=info, dpi=(300, 300))
    img = read_image(src)
    restored = 255 - img.array
    out = write_image(tmp_path / "out.png", restored, like=img)
    with Image.open(out) as im:
        assert im.text["Comment"] == "JEOL JSM-7800F"
        assert im.text["Magnification"] == "x8,000"
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    np.testing.assert_array_equal(read_image(out).array, restored)


@pytest.mark.parametrize("kind", ["rgb", "rgba", "gray8"])
def test_png_layouts_round_trip(tmp_path, kind):
    g = gray8()
    a = {"rgb": rgb8(), "rgba": np.dstack([rgb8(), g]), "gray8": g}[kind]
    src = tmp_path / "in.png"
    Image.fromarray(a).save(src)
    img = read_image(src)
    back = read_image(write_image(tmp_path / "out.png", img.array, like=img))
    assert back.array.dtype == a.dtype and back.array.shape == a.shape
    np.testing.assert_array_equal(back.array, a)


def test_png_metadata_goes_into_a_tif_output(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "from the PNG")
    src = tmp_path / "in.png"
    Image.fromarray(gray8()).save(src, pnginfo=info, dpi=(254, 254))
    img = read_image(src)
    out = write_image(tmp_path / "out.tif", img.array, like=img)
    back = read_image(out)
    assert back.format == "tiff" and back.array.dtype == np.uint8
    assert back.metadata["description"] == "from the PNG"
    x, y = back.metadata["resolution"]
    assert x[0] / x[1] == pytest.approx(254, rel=1e-3)


# ---------------------------------------------------------------- TIFF


@pytest.mark.parametrize("bigtiff", [False, True])
def test_tiff_description_resolution_and_private_tags_are_kept(tmp_path, bigtiff):
    a = gray16()
    src = vendor_tiff(tmp_path / "in.tif", a, bigtiff=bigtiff)
    img = read_image(src)
    restored = 65535 - img.array
    out = write_image(tmp_path / "out.tif", restored, like=img)

    back = read_image(out)
    assert back.array.dtype == np.uint16
    np.testing.assert_array_equal(back.array, restored)
    assert back.metadata["description"] == "SEM HV=20kV Mag=8000x"
    assert back.metadata["resolutionunit"] == 3
    (xn, xd), (yn, yd) = back.metadata["resolution"]
    assert xn / xd == pytest.approx(2000.0) and yn / yd == pytest.approx(4000.0)
    assert back.metadata["bigtiff"] == bigtiff

    tags = tags_of(out)
    assert tags[34680][0] == 2  # ASCII
    assert raw_ascii(out, 34680) == FEI_TEXT.rstrip("\0")
    assert tags[65000] == (1, BYTE_VALUE)
    assert tags[65001] == (3, SHORT_VALUE)
    assert tags[65002] == (1, SHORT_BYTES)
    assert not leftovers(tmp_path)


def test_bigtiff_input_gives_a_readable_output(tmp_path):
    a = gray8(64, 80)
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, a, bigtiff=True, description="bigtiff frame", metadata=None)
    img = read_image(src)
    assert img.metadata["bigtiff"] is True
    out = write_image(tmp_path / "out.tif", img.array[::-1], like=img)
    with tifffile.TiffFile(out) as tif:
        assert tif.is_bigtiff
        np.testing.assert_array_equal(tif.asarray(), a[::-1])
        assert tif.pages[0].description == "bigtiff frame"
    np.testing.assert_array_equal(read_image(out).array, a[::-1])


@pytest.mark.parametrize("array", [
    pytest.param(np.round(smooth_image(40, 52) * 1000 - 50).astype(np.float32), id="float32"),
    pytest.param(rgb8(), id="rgb8"),
    pytest.param(np.dstack([rgb8(), gray8()]), id="rgba8"),
    pytest.param(np.dstack([gray16()] * 3), id="rgb16"),
])
def test_tiff_layouts_round_trip(tmp_path, array):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, array, photometric="rgb" if array.ndim == 3 else "minisblack")
    img = read_image(src)
    back = read_image(write_image(tmp_path / "out.tif", img.array, like=img))
    assert back.array.dtype == array.dtype and back.array.shape == array.shape
    np.testing.assert_array_equal(back.array, array)


def _stack() -> np.ndarray:
    a = gray8()
    return np.stack([a, 255 - a, a // 2])


@pytest.mark.parametrize("how", ["one_call", "appended"])
def test_multipage_tiff_is_read_and_written_as_pages(tmp_path, how):
    stack = _stack()
    src = tmp_path / "stack.tif"
    if how == "one_call":
        tifffile.imwrite(src, stack, photometric="minisblack")
    else:  # pages appended one by one, as acquisition software does
        for page in stack:
            tifffile.imwrite(src, page, append=True, metadata=None)
    img = read_image(src)
    assert img.metadata["pages"] == 3
    restored = restore_pages(img, lambda frame: 255 - frame)
    out = write_image(tmp_path / "out.tif", restored, like=img)
    with tifffile.TiffFile(out) as tif:
        assert len(tif.pages) == 3
        for page, original in zip(tif.pages, stack):
            np.testing.assert_array_equal(page.asarray(), 255 - original)


def test_multipage_stack_is_written_as_pages(tmp_path):
    """What write_image does with a stack built by hand (reading one: the test above)."""
    stack = _stack()
    like = ImageData(array=stack, path=tmp_path / "stack.tif", format="tiff",
                     metadata={"pages": 3, "axes": "QYX", "description": "stack"})
    seen = []
    restored = restore_pages(like, lambda frame: seen.append(frame.shape) or 255 - frame)
    assert seen == [stack.shape[1:]] * 3  # every page on its own
    out = write_image(tmp_path / "out.tif", restored, like=like)
    with tifffile.TiffFile(out) as tif:
        assert len(tif.pages) == 3
        for page, original in zip(tif.pages, stack):
            np.testing.assert_array_equal(page.asarray(), 255 - original)


# ---------------------------------------------------------------- JPEG, BMP


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_jpeg_and_bmp_round_trip_shape_and_dtype(tmp_path, suffix, kind):
    a = gray8() if kind == "gray" else np.dstack([gray8(), gray8()[::-1], gray8()[:, ::-1]])
    src = tmp_path / f"in{suffix}"
    Image.fromarray(a).save(src)
    img = read_image(src)
    out = write_image(tmp_path / f"out{suffix}", img.array, like=img)
    back = read_image(out)
    assert back.format == img.format
    assert back.array.dtype == np.uint8 and back.array.shape == a.shape
    if suffix == ".bmp":
        np.testing.assert_array_equal(back.array, img.array)
    else:
        assert np.abs(back.array.astype(int) - img.array).mean() < 3  # quality 95
    assert not leftovers(tmp_path)


# ---------------------------------------------------------------- refusals and atomicity


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_float_to_a_non_tiff_format_is_a_midnet_error(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    with pytest.raises(MidnetError, match="TIFF"):
        write_image(target, smooth_image(32, 32), fmt=None)
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left either


def test_16bit_colour_to_png_is_a_midnet_error(tmp_path):
    with pytest.raises(MidnetError):
        write_image(tmp_path / "out.png", np.dstack([gray16()] * 3))
    assert os.listdir(tmp_path) == []


def test_unknown_output_suffix_is_a_midnet_error(tmp_path):
    with pytest.raises(MidnetError):
        write_image(tmp_path / "out.gif", gray8())
    assert os.listdir(tmp_path) == []


def test_write_replaces_an_existing_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old contents")
    write_image(target, gray8())
    np.testing.assert_array_equal(read_image(target).array, gray8())
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_write_creates_missing_folders(tmp_path):
    out = write_image(tmp_path / "a" / "b" / "out.tif", gray16())
    np.testing.assert_array_equal(read_image(out).array, gray16())
    assert not leftovers(out.parent)


def test_long_work_checks_its_output_folder_before_it_starts(tmp_path):
    # finetune spends minutes before it writes; a wrong -o must fail first, before the pairs are read
    from midnet.training.finetune import finetune

    (tmp_path / "file").write_text("x")
    with pytest.raises(MidnetError, match="is not a folder"):
        finetune(tmp_path / "no-such-pairs", tmp_path / "file" / "m.safetensors")
