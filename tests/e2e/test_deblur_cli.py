"""``midnet deblur`` as a user runs it: batches with bad files, safety, naming, formats, metadata.

Most runs go through click's CliRunner (fast, in process); a few through a real
``python -m midnet.cli`` process for exit codes and the absence of tracebacks.
A small MIDNet (width 8, perturbed beta/gamma) saved to a file stands in for the
default model, which does not ship yet.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

import midnet
from midnet.cli import cli
from midnet.images.io import read_image

from ..conftest import smooth_image

BAR = 16
FEI_TEXT = "[User]\nDate=04/02/2024\n[Beam]\nHV=20000\n"




def _runner() -> CliRunner:
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:  # click < 8.2
        return CliRunner(mix_stderr=False)
    return CliRunner()  # click >= 8.2 keeps result.stderr apart


def run(*args):
    return _runner().invoke(cli, [str(a) for a in args], obj={}, catch_exceptions=False)


def deblur(*args, model: Path | None = None):
    extra = ["--model", model] if model is not None else []
    return run("deblur", *args, *extra)


def run_process(*args, cwd: Path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "midnet.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name] if folder.exists() else []


def gray8(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.round(smooth_image(h, w, seed=seed) * 255).astype(np.uint8)


def with_bar(h: int = 96, w: int = 128) -> np.ndarray:
    a = np.zeros((h, w), np.uint8)
    a[: h - BAR] = gray8(h - BAR, w, seed=1)
    a[h - BAR + 4 : h - BAR + 10, 8:40] = 255
    a[h - BAR + 12, 60:110] = 255
    return a


def save_png(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def broken_folder(root: Path) -> tuple[Path, list[str]]:
    """Two good images and six bad ones, as a user's folder might hold."""
    root.mkdir(parents=True, exist_ok=True)
    save_png(root / "good.png", gray8())
    tifffile.imwrite(root / "good16.tif", np.round(smooth_image(64, 64, seed=2) * 65535).astype(np.uint16))
    (root / "empty.png").write_bytes(b"")
    (root / "corrupt.tif").write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)))
    raw = (root / "good.png").read_bytes()
    (root / "truncated.png").write_bytes(raw[: len(raw) // 2])
    (root / "notes.png").write_text("this is a text file, not a PNG\n")
    save_png(root / "tiny.png", gray8(8, 8))
    nan = smooth_image(64, 64, seed=3)
    nan[5, 7] = np.nan
    tifffile.imwrite(root / "nan.tif", nan)
    return root, ["empty.png", "corrupt.tif", "truncated.png", "notes.png", "tiny.png", "nan.tif"]


# ---------------------------------------------------------------- a batch survives bad files


def test_broken_batch_goes_on_and_names_every_failure(tmp_path, model_file):
    src, bad = broken_folder(tmp_path / "in")
    before = hashes(src)
    out = tmp_path / "out"
    result = deblur(src, "-o", out, model=model_file)
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "2 restored, 0 skipped, 6 failed" in lines
    failed = [line for line in lines if line.startswith("failed:")]
    assert len(failed) == 6
    for name in bad:
        assert sum(name in line for line in failed) == 1, (name, failed)
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "good16.tif"]
    assert not np.array_equal(read_image(out / "good.png").array, read_image(src / "good.png").array)
    assert read_image(out / "good16.tif").array.dtype == np.uint16
    assert hashes(src) == before  # inputs untouched
    assert not temporaries(out)


def test_broken_batch_in_a_real_process(tmp_path, model_file):
    src, bad = broken_folder(tmp_path / "in")
    before = hashes(src)
    proc = run_process("deblur", src, "-o", tmp_path / "out", "--model", model_file, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "2 restored, 0 skipped, 6 failed" in proc.stderr.splitlines()
    for name in bad:
        assert any(line.startswith("failed:") and name in line for line in proc.stderr.splitlines()), name
    assert proc.stdout == ""
    assert hashes(src) == before
    assert not temporaries(tmp_path / "out")


def test_clean_batch_exits_0_in_a_real_process(tmp_path, model_file):
    save_png(tmp_path / "in" / "a.png", gray8())
    proc = run_process("deblur", tmp_path / "in", "-o", tmp_path / "out", "--model", model_file, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 restored, 0 skipped, 0 failed" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_error_exits_2_in_a_real_process(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_process("deblur", tmp_path / "empty", "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no images found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_process("deblur", tmp_path / "empty", "-o", tmp_path / "out", "--no-such-option", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_traceback_only_with_debug(tmp_path):
    save_png(tmp_path / "a.png", gray8())
    (tmp_path / "broken.safetensors").write_bytes(b"not a weights file")  # exists, so not a usage error
    args = ("deblur", tmp_path / "a.png", "-o", tmp_path / "out", "--model", tmp_path / "broken.safetensors")
    plain = run_process(*args, cwd=tmp_path)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines()[-1].startswith("error:") and "broken.safetensors" in plain.stderr
    debug = run_process("--debug", *args, cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize("args, expect", [
    (["--no-such-option"], "no-such-option"),
    (["--format", "gif"], "gif"),
    (["--method", "magic"], "magic"),
    (["--infobar", "lots"], "infobar"),
    (["--tile", "8"], "tile"),
])
def test_bad_options_are_usage_errors(tmp_path, args, expect):
    src = save_png(tmp_path / "a.png", gray8())
    result = deblur(src, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert expect in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("pattern", ["*.jpg", "nothing-*.png"])
def test_glob_matching_nothing_is_a_usage_error(tmp_path, pattern):
    save_png(tmp_path / "a.png", gray8())
    result = deblur(str(tmp_path / pattern), "-o", tmp_path / "out")
    assert result.exit_code == 2 and "no images found" in result.stderr


def test_folder_without_images_is_a_usage_error(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("no images here")
    result = deblur(tmp_path / "in", "-o", tmp_path / "out")
    assert result.exit_code == 2 and "no images found" in result.stderr


def test_missing_input_is_one_line(tmp_path):
    result = deblur(tmp_path / "nope.png", "-o", tmp_path / "out")
    assert result.exit_code == 2  # a usage error: nothing to restore
    assert "nope.png" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- safety


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, model_file):
    src = save_png(tmp_path / "in" / "a.png", gray8())
    out = tmp_path / "out"
    assert deblur(src, "-o", out, model=model_file).exit_code == 0
    restored = (out / "a.png").read_bytes()
    (out / "a.png").write_bytes(b"user's own file")

    again = deblur(src, "-o", out, model=model_file)
    assert again.exit_code == 0
    assert "0 restored, 1 skipped, 0 failed" in again.stderr
    assert any(line.startswith("skipped:") and "a.png" in line for line in again.stderr.splitlines())
    assert (out / "a.png").read_bytes() == b"user's own file"

    forced = deblur(src, "-o", out, "--overwrite", model=model_file)
    assert forced.exit_code == 0 and "1 restored, 0 skipped, 0 failed" in forced.stderr
    assert (out / "a.png").read_bytes() == restored
    assert not temporaries(out)


def test_output_equal_to_input_is_refused(tmp_path, model_file):
    src_dir = tmp_path / "in"
    save_png(src_dir / "a.png", gray8())
    save_png(src_dir / "b.png", gray8(seed=4))
    before = hashes(src_dir)
    for args in ([src_dir, "-o", src_dir], [src_dir / "a.png", "-o", src_dir], [src_dir, "-o", src_dir, "--overwrite"]):
        result = deblur(*args, model=model_file)
        assert result.exit_code == 1, result.stderr
        assert "would overwrite an input" in result.stderr and "Traceback" not in result.stderr
        assert "a.png" in result.stderr
        assert hashes(src_dir) == before


def test_suffix_lets_outputs_sit_beside_inputs(tmp_path, model_file):
    src_dir = tmp_path / "in"
    save_png(src_dir / "a.png", gray8())
    before = hashes(src_dir)
    result = deblur(src_dir / "a.png", "-o", src_dir, "--suffix", "_deblurred", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert (src_dir / "a_deblurred.png").is_file()
    assert hashes(src_dir)["a.png"] == before["a.png"]


def test_a_write_failure_leaves_no_file_and_no_temporary(tmp_path, model_file):
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "f.tif", smooth_image(64, 64, seed=6))  # float: no PNG can hold it
    out = tmp_path / "out"
    result = deblur(tmp_path / "in", "-o", out, "--format", "png", model=model_file)
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert "f.tif" in line and str(out / "f.png") in line and ".tmp" not in line  # the output, not the temporary
    assert not (out / "f.png").exists()
    assert not temporaries(out)


def test_a_full_disk_is_reported_plainly(tmp_path, monkeypatch):
    import midnet.images.io

    def fill_the_disk(tmp, *args):
        Path(tmp).write_bytes(b"the first bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)

    monkeypatch.setattr(midnet.images.io, "_write_pil", fill_the_disk)
    src = save_png(tmp_path / "in" / "a.png", gray8())
    out = tmp_path / "out"
    result = deblur(src, "-o", out, "--method", "unsharp")
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert f"no space left on device writing {out / 'a.png'}" in line and ".tmp" not in line
    assert not out.exists() or os.listdir(out) == []


def test_an_unwritable_output_folder_fails_that_file_fast(tmp_path):
    src = tmp_path / "in"
    save_png(src / "top.png", gray8())
    save_png(src / "day1" / "x.png", gray8(seed=1))
    out = tmp_path / "out"
    out.mkdir()
    (out / "day1").write_text("a file where a folder must go")
    result = deblur(src, "-o", out, "-r", "--method", "unsharp")
    assert result.exit_code == 1, result.stderr
    assert "1 restored, 0 skipped, 1 failed" in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert str(out / "day1" / "x.png") in line and "is not a folder" in line
    assert sorted(os.listdir(out)) == ["day1", "top.png"]


def test_odd_names_are_quoted_and_every_message_is_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad\nname.png").write_text("not a PNG")
    save_png(src / "good\tname.png", gray8())
    out = tmp_path / "out"
    for _ in range(2):  # the second run skips the output: a skip line
        result = deblur(src, "-o", out, "--method", "unsharp")
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert all(line.startswith(("skipped: ", "failed: ")) for line in lines[1:]), lines
        assert sum(repr(str(src / "bad\nname.png")) in line for line in lines) == 1
    good = str(out / "good\tname.png")
    assert f"skipped: {good!r} exists" in result.stderr
    assert os.listdir(out) == ["good\tname.png"]


def test_a_second_run_into_the_input_folder_skips_midnets_own_outputs(tmp_path):
    d = tmp_path / "scans"
    save_png(d / "a.png", gray8())
    save_png(d / "b.png", gray8(seed=1))
    first = deblur(d, "-o", d, "--suffix", "_r", "--compare", "--method", "unsharp")
    assert first.exit_code == 0 and "2 restored, 0 skipped, 0 failed" in first.stderr
    before = hashes(d)
    again = deblur(d, "-o", d, "--suffix", "_r", "--method", "unsharp")
    assert again.exit_code == 0, again.stderr
    assert "0 restored, 6 skipped, 0 failed" in again.stderr
    assert f"skipped: {d / 'a_r.png'}: midnet's output of {d / 'a.png'}" in again.stderr
    assert f"skipped: {d / 'b_r_compare.png'}: midnet's --compare picture of {d / 'b.png'}" in again.stderr
    assert hashes(d) == before  # no a_r_r.png


# ---------------------------------------------------------------- naming and planning


def test_dry_run_lists_outputs_and_writes_nothing(tmp_path, model_file):
    src = tmp_path / "in"
    save_png(src / "a.png", gray8())
    save_png(src / "b.png", gray8(seed=1))
    out = tmp_path / "out"
    result = deblur(src, "-o", out, "--dry-run", "--suffix", "_r", "--compare", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert not out.exists()
    for name in ("a", "b"):
        assert f"{out / (name + '_r.png')} (would be written)" in result.stdout
        assert str(out / f"{name}_r_compare.png") in result.stdout

    assert deblur(src / "a.png", "-o", out, "--suffix", "_r", model=model_file).exit_code == 0
    before = hashes(out)
    listed = deblur(src, "-o", out, "--dry-run", "--suffix", "_r").stdout
    assert "a_r.png (exists, would be skipped)" in listed and "b_r.png (would be written)" in listed
    assert "would be replaced" in deblur(src, "-o", out, "--dry-run", "--suffix", "_r", "--overwrite").stdout
    assert hashes(out) == before


def test_suffix_changes_the_output_names(tmp_path, model_file):
    src = save_png(tmp_path / "in" / "a.png", gray8())
    result = deblur(src, "-o", tmp_path / "out", "--suffix", "_sharp", model=model_file)
    assert result.exit_code == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a_sharp.png"]


def test_format_tif_turns_a_png_into_a_tif(tmp_path, model_file):
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "SEM x8000")
    src = save_png(tmp_path / "in" / "a.png", with_bar(), pnginfo=info, dpi=(300, 300))
    result = deblur(src, "-o", tmp_path / "out", "--format", "tif", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["a.tif"]
    back = read_image(tmp_path / "out" / "a.tif")
    assert back.format == "tiff" and back.array.dtype == np.uint8 and back.array.shape == with_bar().shape
    assert back.metadata["description"] == "SEM x8000"
    np.testing.assert_array_equal(back.array[-BAR:], with_bar()[-BAR:])


def test_format_png_keeps_16_bits(tmp_path, model_file):
    a = np.round(smooth_image(64, 64) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", a)
    result = deblur(tmp_path / "in.tif", "-o", tmp_path / "out", "--format", "png", model=model_file)
    assert result.exit_code == 0, result.stderr
    back = read_image(tmp_path / "out" / "in.png")
    assert back.array.dtype == np.uint16 and back.array.shape == a.shape


def test_compare_writes_a_before_after_picture(tmp_path, model_file):
    src = save_png(tmp_path / "in" / "wide.png", gray8(64, 224))
    result = deblur(src, "-o", tmp_path / "out", "--compare", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["wide.png", "wide_compare.png"]
    with Image.open(tmp_path / "out" / "wide_compare.png") as im:
        assert im.format == "PNG" and im.width >= 2 * 224


def test_compare_works_for_a_small_image(tmp_path, model_file):
    src = save_png(tmp_path / "in" / "a.png", gray8(64, 64))
    result = deblur(src, "-o", tmp_path / "out", "--compare", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "a_compare.png").is_file()


def test_recursive_descends_and_mirrors_subfolders(tmp_path, model_file):
    src = tmp_path / "in"
    save_png(src / "top.png", gray8())
    save_png(src / "day1" / "x.png", gray8(seed=1))
    save_png(src / "day1" / "run2" / "y.png", gray8(seed=2))

    flat = deblur(src, "-o", tmp_path / "flat", model=model_file)
    assert flat.exit_code == 0 and sorted(hashes(tmp_path / "flat")) == ["top.png"]

    deep = deblur(src, "-o", tmp_path / "deep", "--recursive", model=model_file)
    assert deep.exit_code == 0, deep.stderr
    assert "3 restored, 0 skipped, 0 failed" in deep.stderr
    assert sorted(hashes(tmp_path / "deep")) == sorted(["top.png", "day1/x.png", "day1/run2/y.png"])


def test_glob_patterns_and_several_inputs(tmp_path, model_file):
    src = tmp_path / "in"
    save_png(src / "a.png", gray8())
    save_png(src / "b.png", gray8(seed=1))
    tifffile.imwrite(src / "c.tif", gray8(seed=2))
    save_png(tmp_path / "other" / "d.png", gray8(seed=3))

    result = deblur(str(src / "*.png"), "-o", tmp_path / "out1", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out1")) == ["a.png", "b.png"]

    result = deblur(str(src / "[ab].png"), src / "c.tif", tmp_path / "other", "-o", tmp_path / "out2", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out2")) == ["a.png", "b.png", "c.tif", "d.png"]


# ---------------------------------------------------------------- formats, layouts, metadata


def _cases():
    g = gray8()
    g16 = np.round(smooth_image(64, 64, seed=1) * 65535).astype(np.uint16)
    colour = np.dstack([g, gray8(seed=2), gray8(seed=3)])
    alpha = np.random.default_rng(0).integers(0, 256, g.shape, dtype=np.uint8)
    return [
        pytest.param("a.png", g, id="png-gray8"),
        pytest.param("a.png", g16, id="png-gray16"),
        pytest.param("a.png", np.dstack([g, g, g]), id="png-rgb-gray-content"),
        pytest.param("a.png", colour, id="png-rgb-colour"),
        pytest.param("a.png", np.dstack([g, g, g, alpha]), id="png-rgba"),
        pytest.param("a.jpg", np.dstack([g, g, g]), id="jpeg-rgb"),
        pytest.param("a.jpg", g, id="jpeg-gray"),
        pytest.param("a.bmp", g, id="bmp-gray"),
        pytest.param("a.bmp", colour, id="bmp-rgb"),
        pytest.param("a.tif", smooth_image(64, 64, seed=4) * 5.0 - 1.0, id="tif-float32-wide-range"),
        pytest.param("a.tif", np.dstack([g16] * 3), id="tif-rgb16"),
        pytest.param("a.tiff", g16, id="tiff-gray16"),
    ]


@pytest.mark.parametrize("name, array", _cases())
def test_output_keeps_format_dtype_and_layout(tmp_path, model_file, name, array):
    src = tmp_path / "in" / name
    src.parent.mkdir()
    if src.suffix.startswith(".tif"):
        tifffile.imwrite(src, array, photometric="rgb" if array.ndim == 3 else "minisblack")
    else:
        Image.fromarray(array).save(src)
    original = read_image(src)
    before = hashes(src.parent)
    result = deblur(src, "-o", tmp_path / "out", model=model_file)
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out" / name
    back = read_image(out)
    assert back.format == original.format
    assert back.array.dtype == original.array.dtype and back.array.shape == original.array.shape
    assert not np.array_equal(back.array, original.array)
    a = original.array
    if a.ndim == 3 and np.ptp(a[..., :3].astype(int), axis=2).max() == 0 and name.endswith((".png", ".bmp", ".tif")):
        np.testing.assert_array_equal(back.array[..., 0], back.array[..., 1])  # gray content stays gray
        np.testing.assert_array_equal(back.array[..., 0], back.array[..., 2])
    if a.ndim == 3 and a.shape[2] == 4:
        np.testing.assert_array_equal(back.array[..., 3], a[..., 3])  # alpha untouched
    if a.dtype == np.float32:
        assert back.array.min() < 0 and back.array.max() > 1  # the wide range is kept
    assert hashes(src.parent) == before


@pytest.mark.parametrize("infobar", ["auto", str(BAR)])
def test_info_bar_is_bit_exact_through_the_command(tmp_path, model_file, infobar):
    a = with_bar()
    src = save_png(tmp_path / "in" / "a.png", a)
    result = deblur(src, "-o", tmp_path / "out", "--infobar", infobar, model=model_file)
    assert result.exit_code == 0, result.stderr
    out = read_image(tmp_path / "out" / "a.png").array
    np.testing.assert_array_equal(out[-BAR:], a[-BAR:])
    assert (out[:-BAR] != a[:-BAR]).any(axis=1).mean() > 0.95


def test_frame_without_bar_is_restored_everywhere(tmp_path, model_file):
    a = gray8(96, 128, seed=5)
    src = save_png(tmp_path / "in" / "a.png", a)
    assert deblur(src, "-o", tmp_path / "out", model=model_file).exit_code == 0
    out = read_image(tmp_path / "out" / "a.png").array
    assert (out != a).any(axis=1).mean() > 0.95 and (out[-BAR:] != a[-BAR:]).any()


def test_tiff_vendor_metadata_survives_the_command(tmp_path, model_file):
    a = np.round(smooth_image(64, 80, seed=7) * 65535).astype(np.uint16)
    src = tmp_path / "in" / "fei.tif"
    src.parent.mkdir()
    tifffile.imwrite(
        src, a, photometric="minisblack", metadata=None, description="Quanta SEM frame",
        resolution=(50000.0, 50000.0), resolutionunit="CENTIMETER",
        extratags=[(34680, "s", 0, FEI_TEXT, True), (65000, "B", 5, b"\x01\x02\x03\x04\x05", True),
                   (65001, "H", 2, (12, 34), True)],
    )
    result = deblur(src, "-o", tmp_path / "out", model=model_file)
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out" / "fei.tif"
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert page.description == "Quanta SEM frame"
        assert page.tags["XResolution"].value == (50000, 1) and page.tags["ResolutionUnit"].value == 3
        assert int(page.tags[34680].dtype) == 2
        tif.filehandle.seek(page.tags[34680].valueoffset)
        assert tif.filehandle.read(page.tags[34680].valuebytecount).rstrip(b"\0").decode() == FEI_TEXT
        assert page.tags[65000].value == b"\x01\x02\x03\x04\x05"
        assert page.tags[65001].value == (12, 34)
        data = page.asarray()
    assert data.dtype == np.uint16 and data.shape == a.shape and not np.array_equal(data, a)


def test_multipage_tiff_restores_every_page(tmp_path, model_file):
    stack = np.stack([gray8(seed=s) for s in range(3)])
    src = tmp_path / "in" / "stack.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, stack, photometric="minisblack")
    result = deblur(src, "-o", tmp_path / "out", model=model_file)
    assert result.exit_code == 0, result.stderr
    with tifffile.TiffFile(tmp_path / "out" / "stack.tif") as tif:
        assert len(tif.pages) == 3
        for page, original in zip(tif.pages, stack):
            restored = page.asarray()
            assert restored.shape == original.shape and not np.array_equal(restored, original)


def test_compare_picture_of_a_stack_shows_its_first_page(tmp_path, model_file):
    src = tmp_path / "in" / "stack.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, np.stack([gray8(seed=s) for s in range(2)]), photometric="minisblack")
    result = deblur(src, "-o", tmp_path / "out", "--compare", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "stack_compare.png").is_file()


def test_miniswhite_tiff_keeps_its_polarity(tmp_path, model_file):
    src = tmp_path / "in" / "w.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, gray8(), photometric="miniswhite")
    assert deblur(src, "-o", tmp_path / "out", model=model_file).exit_code == 0
    with tifffile.TiffFile(tmp_path / "out" / "w.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISWHITE


def test_method_wiener_needs_no_model(tmp_path):
    a = with_bar()
    src = save_png(tmp_path / "in" / "a.png", a)
    result = deblur(src, "-o", tmp_path / "out", "--method", "wiener")
    assert result.exit_code == 0, result.stderr
    out = read_image(tmp_path / "out" / "a.png").array
    assert out.shape == a.shape and not np.array_equal(out[:-BAR], a[:-BAR])
    np.testing.assert_array_equal(out[-BAR:], a[-BAR:])


def test_tile_overlap_and_device_options(tmp_path, model_file):
    a = gray8(160, 150)
    src = save_png(tmp_path / "in" / "a.png", a)
    result = deblur(src, "-o", tmp_path / "out", "--tile", "64", "--overlap", "16", "--device", "cpu",
                    "--infobar", "none", model=model_file)
    assert result.exit_code == 0, result.stderr
    out = read_image(tmp_path / "out" / "a.png").array
    assert out.shape == a.shape and not np.array_equal(out, a)


def test_engine_onnx_writes_what_torch_writes(tmp_path, model_file):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):  # two frames of one size: one export, two runs
        Image.fromarray((smooth_image(60, 84, seed=10 + i) * 255).astype(np.uint8)).save(src / f"f{i}.png")
    for engine in ("torch", "onnx"):
        result = deblur(src, "-o", tmp_path / engine, "--engine", engine, "--precision", "fp32", "--infobar", "none",
                        model=model_file)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == ""
    for i in range(2):
        a = read_image(tmp_path / "torch" / f"f{i}.png").array.astype(int)
        b = read_image(tmp_path / "onnx" / f"f{i}.png").array.astype(int)
        assert np.abs(a - b).max() <= 1  # equal but for rounding at a .5 boundary
        assert np.abs(a - np.asarray(Image.open(src / f"f{i}.png"), dtype=int)).max() > 0


def test_uncertainty_writes_the_spread_beside_each_output_and_the_tta_mean(tmp_path, model_file):
    src = save_png(tmp_path / "in" / "a.png", gray8(48, 56))
    exact = ("--engine", "torch", "--precision", "fp32")  # as RestoreSettings.exact below
    result = deblur(src, "-o", tmp_path / "out", "--uncertainty", "--infobar", "none", *exact, model=model_file)
    assert result.exit_code == 0, result.stderr
    spread = tifffile.imread(tmp_path / "out" / "a_uncertainty.tif")
    assert spread.dtype == np.float32 and spread.shape == (48, 56) and spread.max() > 0
    restorer = midnet.make_restorer(midnet.RestoreSettings.exact(model=str(model_file), tta=True))
    expected, expected_spread = restorer.deblur_with_spread(gray8(48, 56), "none")
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "a.png").array, expected)
    np.testing.assert_allclose(spread, expected_spread, rtol=0, atol=1e-6)
    tta = deblur(src, "-o", tmp_path / "tta", "--tta", "--infobar", "none", *exact, model=model_file)
    assert tta.exit_code == 0 and not (tmp_path / "tta" / "a_uncertainty.tif").exists()
    np.testing.assert_array_equal(read_image(tmp_path / "tta" / "a.png").array, expected)
    # into the input folder twice: the second run restores neither the output nor its map again
    for _ in range(2):
        into = deblur(tmp_path / "in", "-o", tmp_path / "in", "--suffix", "_r", "--uncertainty", "--infobar", "none",
                      model=model_file)
        assert into.exit_code == 0, into.stderr
    assert "0 restored, 3 skipped" in into.stderr and "--uncertainty map of" in into.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.png", "a_r.png", "a_r_uncertainty.tif"]


@pytest.mark.parametrize("how", ["zarr", "cluster"])
def test_without_the_dask_extra_a_dask_input_or_option_says_how_to_install_it(tmp_path, monkeypatch, how):
    from midnet.cli import cluster

    for needs in ("CLUSTER_MODULES", "BLOCK_MODULES"):
        monkeypatch.setattr(cluster, needs, (*getattr(cluster, needs), "midnet_no_such_module"))
    if how == "zarr":
        (tmp_path / "frame.ome.zarr").mkdir()
        args, named = [tmp_path / "frame.ome.zarr"], "frame.ome.zarr"
    else:
        Image.fromarray((smooth_image(64, 64, seed=2) * 255).astype(np.uint8)).save(tmp_path / "a.png")
        args, named = [tmp_path / "a.png", "--cluster", "local:1"], "--cluster"
    result = deblur(*args, "-o", tmp_path / "out")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and 'pip install "midnet[dask]"' in lines[0]
    assert "midnet_no_such_module" in lines[0] and not (tmp_path / "out").exists()
