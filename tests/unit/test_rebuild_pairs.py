"""scripts/rebuild_pairs.py: whole frames back from overlapping RGBA crops, exactly, or a report of what disagrees."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rebuild_pairs.py"


def load_script():
    spec = importlib.util.spec_from_file_location("rebuild_pairs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


rp = load_script()


def write_crops(folder: Path, name: str, frame: np.ndarray, grid, size: int, pattern: str, alpha: int = 255) -> None:
    """Cuts ``frame`` as the authors did: RGBA crops with a constant alpha, named by ``pattern``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, r, c in grid.positions():
        crop = rp.cut_crops(frame, grid, size)[(r, c)]
        rgba = np.dstack([crop, np.full(crop.shape[:2], alpha, np.uint8)])
        Image.fromarray(rgba).save(folder / pattern.format(name=name, index=index, row=r, col=c), compress_level=1)


def random_frame(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return np.asarray(im)


SMALL = dict(rows=2, cols=3, stride=16)
SMALL_ARGS = ["--rows", "2", "--cols", "3", "--stride", "16"]


@pytest.fixture
def small_crops(tmp_path):
    """Two micrographs as 2x3 grids of 32 px crops at stride 16 (64x48 frames), the authors' naming."""
    grid, frames = rp.Grid(**SMALL), {}
    for i, name in enumerate(["1-1", "10-2"]):
        for j, side in enumerate(rp.SIDES):
            frames[side, name] = random_frame(48, 64, seed=10 * i + j)
            write_crops(tmp_path / "crops" / side, name, frames[side, name], grid, 32, rp.DEFAULT_PATTERN)
    return tmp_path / "crops", frames


@pytest.mark.slow  # ~5 s: 24 full-size crops
def test_the_published_grid_round_trips_exactly(tmp_path):
    # 1280x1024 frames, twelve 512x512 RGBA crops 4 across and 3 down at stride 256, named NAME_s001..s012 row by row
    frames = {side: random_frame(1024, 1280, seed=i) for i, side in enumerate(rp.SIDES)}
    for side, frame in frames.items():
        write_crops(tmp_path / "crops" / side, "3-1", frame, rp.Grid(), 512, rp.DEFAULT_PATTERN)
    assert sorted(p.name for p in (tmp_path / "crops" / "blur").iterdir())[:2] == ["3-1_s001.png", "3-1_s002.png"]
    assert rp.main([str(tmp_path / "crops"), "-o", str(tmp_path / "pairs")]) == 0
    for side, frame in frames.items():
        assert np.array_equal(read(tmp_path / "pairs" / side / "3-1.png"), frame)


def test_small_grid_and_every_micrograph_found(small_crops, tmp_path, capsys):
    crops, frames = small_crops
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS]) == 0
    for (side, name), frame in frames.items():
        assert np.array_equal(read(tmp_path / "out" / side / f"{name}.png"), frame)
    assert "wrote" in capsys.readouterr().out


def test_row_col_pattern(tmp_path):
    frame, grid = random_frame(48, 64, seed=3), rp.Grid(**SMALL)
    for side in rp.SIDES:
        write_crops(tmp_path / "c" / side, "img_7", frame, grid, 32, "{name}_{row}_{col}.png")
    assert rp.main([str(tmp_path / "c"), "-o", str(tmp_path / "o"), "--pattern", "{name}_{row}_{col}.png", *SMALL_ARGS]) == 0
    assert np.array_equal(read(tmp_path / "o" / "sharp" / "img_7.png"), frame)


def test_disagreeing_overlap_is_reported_and_not_written(small_crops, tmp_path, capsys):
    crops, frames = small_crops
    path = crops / "blur" / "1-1_s002.png"  # row 0, col 1: its left half overlaps crop s001
    rgba = np.asarray(Image.open(path)).copy()
    old = int(rgba[5, 3, 0])
    rgba[5, 3, 0] = (old + 100) % 256
    Image.fromarray(rgba).save(path)
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS]) == 1
    err = capsys.readouterr().err
    assert "mismatch: blur/1-1: crop (row 0, col 1): 1 shared pixels disagree" in err
    assert f"max difference {abs(old - int(rgba[5, 3, 0]))})" in err
    assert not (tmp_path / "out" / "blur" / "1-1.png").exists()
    assert (tmp_path / "out" / "sharp" / "1-1.png").exists() and (tmp_path / "out" / "blur" / "10-2.png").exists()
    assert rp.main([str(crops), "-o", str(tmp_path / "forced"), *SMALL_ARGS, "--force"]) == 1
    assert (tmp_path / "forced" / "blur" / "1-1.png").exists()


def test_varying_alpha_is_reported(small_crops, tmp_path, capsys):
    crops, _ = small_crops
    path = crops / "sharp" / "10-2_s006.png"
    rgba = np.asarray(Image.open(path)).copy()
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(path)
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS]) == 1
    assert "10-2_s006.png: alpha varies (0..255)" in capsys.readouterr().err


def test_missing_crop_names_the_file(small_crops, tmp_path, capsys):
    crops, _ = small_crops
    (crops / "sharp" / "1-1_s004.png").unlink()
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS]) == 1
    assert "1-1_s004.png: missing crop (row 1, col 0) of 1-1" in capsys.readouterr().err


def test_existing_output_needs_overwrite(small_crops, tmp_path, capsys):
    crops, _ = small_crops
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS, "--names", "1-1"]) == 0
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS, "--names", "1-1"]) == 1
    assert "exists; give --overwrite" in capsys.readouterr().err
    assert rp.main([str(crops), "-o", str(tmp_path / "out"), *SMALL_ARGS, "--names", "1-1", "--overwrite"]) == 0


@pytest.mark.parametrize("extra, expect", [
    (["--pattern", "{name}.png", *SMALL_ARGS], "either {index} or {row} and {col}"),
    (["--pattern", "{stem}_{index}.png"], "unknown: stem"),
    (["--pattern", "{name}_{index}.tif"], "no file in"),
    (["--stride", "0"], "must be >= 1"),
])
def test_usage_errors_exit_2(small_crops, tmp_path, capsys, extra, expect):
    crops, _ = small_crops
    with pytest.raises(SystemExit) as exc:
        rp.main([str(crops), "-o", str(tmp_path / "out"), *extra])
    assert exc.value.code == 2 and expect in capsys.readouterr().err


def test_crops_folder_without_blur_and_sharp_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        rp.main([str(tmp_path), "-o", str(tmp_path / "out")])
    assert exc.value.code == 2 and "CROPS must hold blur/ and sharp/" in capsys.readouterr().err


def test_pattern_regex_takes_names_with_dashes_and_underscores():
    regex = rp.pattern_regex(rp.DEFAULT_PATTERN)
    assert regex.match("10-2_s012.png")["name"] == "10-2"
    assert regex.match("a_b_s001.png")["name"] == "a_b"
    assert regex.match("1-1_s001.png.tmp") is None and regex.match("1-1.png") is None
