"""Odd images and hostile weights and packages (issue 33: faults 2, 12, 13 and 15, and those categories).

Every page of a TIFF is restored and scored whatever its size; a flat frame comes back flat;
every refusal is one clean line, without numpy's or torch's warnings before it; a zip bomb is
refused before a byte of it is decompressed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from click.testing import CliRunner
from PIL import Image

from midnet import MidnetError
from midnet.cli import cli
from midnet.images.io import read_image
from midnet.models.weights import PACKAGE_FORMAT, read_weights

PAGE_SHAPES = [(64, 64), (72, 96), (112, 80)]  # each at least 64 a side: midnet score judges no less


@pytest.fixture
def ragged_tiff(tmp_path) -> Path:
    """Three pages of three sizes (an overview and two details, as some SEM software saves them)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "ragged.tif"
    with tifffile.TiffWriter(path) as tif:
        for i, shape in enumerate(PAGE_SHAPES):
            tif.write(np.clip(rng.normal(60 + 50 * i, 20, shape), 0, 255).astype(np.uint8))
    return path


def test_every_page_of_a_tiff_whose_pages_differ_in_size_is_restored(ragged_tiff, model_file, tmp_path):
    result = CliRunner().invoke(cli, ["deblur", str(ragged_tiff), "-o", str(tmp_path / "out"), "--model",
                                      str(model_file), "--engine", "torch", "--infobar", "none"])
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "out" / "ragged.tif") as tif:
        pages = [page.asarray() for page in tif.pages]
    with tifffile.TiffFile(ragged_tiff) as tif:
        sources = [page.asarray() for page in tif.pages]
    assert [p.shape for p in pages] == PAGE_SHAPES
    for page, source in zip(pages, sources):
        assert np.abs(page.astype(int) - source.astype(int)).mean() < 20  # this page's restoration, not another's
        assert not np.array_equal(page, source)  # and restored: the tiny network changes what it sees


def test_every_page_of_a_tiff_whose_pages_differ_in_size_is_scored(ragged_tiff, tmp_path):
    result = CliRunner().invoke(cli, ["score", str(ragged_tiff), "--csv", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "s.csv").read_text().strip().splitlines()[1:]
    assert [row.split(",")[1] for row in rows] == ["0", "1", "2"]


def test_a_ragged_tiff_is_read_page_by_page_with_its_shapes(ragged_tiff):
    img = read_image(ragged_tiff)
    lead, frames = img.frames()
    assert lead == (3,) and [f.shape for f in frames] == PAGE_SHAPES


FLAT_CASES = {  # 256 x 256, the size the fault was found at (all 128 came back 116-142)
    "all 128": (np.full((256, 256), 128.0), 0.0),
    "all 0": (np.zeros((256, 256)), 0.0),
    "all 255": (np.full((256, 256), 255.0), 0.0),
    **{f"128 + noise sigma {s}": (np.full((256, 256), 128.0), float(s)) for s in (1, 3, 6)},
    "ramp": (np.tile(np.linspace(60, 160, 256), (256, 1)), 0.0),
}


RAMP_FAULT = pytest.mark.xfail(strict=True, reason="issue 33 fault 12: midnet-sem 2.0, trained on smooth fields too, "
                               "leaves this ramp's interior within 1.5 grey levels, but its outer 8 px move by up to 9; "
                               "a margin of edge values costs real micrographs, and padding by reflection "
                               "(UNetConfig.padding) leaves 1.9 levels at the edge (docs/results.md 11.5)")


@pytest.mark.parametrize("case", [pytest.param(c, marks=RAMP_FAULT) if c == "ramp" else c for c in FLAT_CASES])
def test_flat_frames_come_back_flat(case):
    """Within max(1, 3 sigma) grey levels of the clean frame. A Gaussian's own values pass 3 sigma at 0.27 % of
    pixels, so that share (and five binomial standard deviations of it over 65,536 pixels: 0.1 %) may."""
    from midnet.inference.restore import make_restorer
    from midnet.inference.settings import RestoreSettings

    clean, sigma = FLAT_CASES[case]
    noisy = clean + sigma * np.random.default_rng(7).standard_normal(clean.shape)
    frame = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    out = make_restorer(RestoreSettings(model="midnet-sem", engine="torch", precision="fp32")).deblur(frame, infobar=None)
    beyond = np.abs(out.astype(float) - clean) > max(1.0, 3 * sigma)
    assert beyond.mean() <= (0.0027 + 0.001 if sigma else 0.0), (case, out.min(), out.max())


@pytest.mark.xfail(strict=True, reason="issue 33 fault 12: without the restorer's one-value shortcut the network moves a "
                   "constant frame's edges by 4 to 6 grey levels (its zero padding); padding by reflection leaves 2, "
                   "and 1 only with smooth fields that cost 0.5 dB at every blur width: docs/results.md 11.5")
@pytest.mark.parametrize("level", [0, 128, 255])
def test_the_network_itself_leaves_a_constant_frame_within_one_level(level, monkeypatch):
    """What fault 12 asks of the network, not of the restorer's shortcut for frames of one value."""
    from midnet.inference import restore
    from midnet.inference.settings import RestoreSettings

    monkeypatch.setattr(restore, "_one_value", lambda gray: False)
    frame = np.full((256, 256), level, np.uint8)
    out = restore.make_restorer(RestoreSettings(model="midnet-sem", engine="torch", precision="fp32")).deblur(
        frame, infobar=None)
    assert np.abs(out.astype(float) - level).max() <= 1.0, (out.min(), out.max())


def _tiny_png(tmp_path, side=1):
    Image.fromarray(np.full((side, side), 100, np.uint8)).save(tmp_path / "tiny.png")
    return tmp_path / "tiny.png"


@pytest.mark.parametrize("command", ["deblur", "score"])
def test_a_one_pixel_image_gives_one_line_without_numpys_warnings(tmp_path, model_file, command):
    args = [command, str(_tiny_png(tmp_path))]  # midnet-sem: its training domain is checked on every frame
    args += ["-o", str(tmp_path / "out"), "--engine", "torch"] if command == "deblur" else []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a warning is an exception here: the test sees it
        result = CliRunner().invoke(cli, args)
    assert "RuntimeWarning" not in result.output and "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, RuntimeWarning), result.exception


def test_the_domain_warning_is_not_given_when_every_file_failed(tmp_path):
    # a 16-bit frame asked for as PNG works; the failure comes after the restoration: a full disk, here the output
    # name is taken by a folder, so the write fails after the frame was checked against the domain
    frame = np.random.default_rng(0).integers(0, 65535, (64, 64), dtype=np.uint16)  # noise: outside the domain
    tifffile.imwrite(tmp_path / "a.tif", frame)
    (tmp_path / "out" / "a.tif").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--overwrite",
                                      "--engine", "torch"])
    assert result.exit_code == 1 and "1 failed" in result.output, result.output
    assert "look unlike" not in result.output


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-midnet-test",))


def test_a_refused_pickle_is_one_line_without_torchs_warning_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "plain.pth"
    path.write_bytes(pickle.dumps({"x": _Payload()}, protocol=4))  # protocol 4: torch warns before refusing
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(MidnetError) as err:
            read_weights(path)
    assert not seen, [str(w.message) for w in seen]
    assert "never unpickles" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "pwned-by-midnet-test").exists()


def _package(path: Path, weights: bytes, extra: dict[str, bytes] | None = None) -> Path:
    section = {"format": PACKAGE_FORMAT, "weights": "w.safetensors", "weights_sha256": hashlib.sha256(weights).hexdigest()}
    rdf = {"type": "model", "format_version": "0.5.12", "name": "x", "config": {"midnet": section}}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("rdf.yaml", yaml.safe_dump(rdf))
        z.writestr("w.safetensors", weights)
        for name, content in (extra or {}).items():
            z.writestr(name, content)
    return path


@pytest.mark.parametrize("where", ["weights", "another member"])
def test_a_zip_bomb_is_refused_before_anything_is_decompressed(tmp_path, monkeypatch, where):
    bomb = bytes(64 << 20)  # 64 MiB of zeros: 64 KiB compressed, under the size cap, a ratio no weights have
    package = (_package(tmp_path / "bomb.zip", bomb) if where == "weights"
               else _package(tmp_path / "bomb.zip", b"\0" * 64, {"weights.onnx": bomb}))
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(MidnetError) as err:
        read_weights(package)
    assert not opened, opened  # refused from the central directory alone
    assert "compress" in str(err.value) and "\n" not in str(err.value)


def test_a_package_member_with_a_path_outside_the_package_is_refused(tmp_path):
    section = {"format": PACKAGE_FORMAT, "weights": "../w.safetensors", "weights_sha256": "0" * 64}
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as z:
        z.writestr("rdf.yaml", yaml.safe_dump({"config": {"midnet": section}}))
        z.writestr("../w.safetensors", b"x")
    with pytest.raises(MidnetError, match="not a .safetensors file name"):
        read_weights(tmp_path / "p.zip")
