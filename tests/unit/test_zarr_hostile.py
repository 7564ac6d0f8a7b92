"""Zarr inputs that lie or collide (issue 33: faults 3, 4, 8, 9 and 11, and the Zarr, kills and
concurrent-runs categories): each is refused before any work with one line, or locked out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask")

from midnet.cluster.files import RestorerSpec  # noqa: E402
from midnet.inference.settings import RestoreSettings  # noqa: E402
from midnet.cluster.large_images import output_name, restore_zarr_file  # noqa: E402

PARTIAL_GLOB = ".*.midnet-partial"


def _spec(model_file):
    return RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=64, overlap=16, infobar="none"))


def _zarr(path, array=None, shape=None, dtype="uint8", attrs=None):
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    made = group.create_array("0", shape=shape or array.shape, chunks=(1,) * (len(shape or array.shape) - 2) + (64, 64),
                              dtype=dtype if array is None else array.dtype, fill_value=0)
    if array is not None:
        made[:] = array
    if attrs is not None:
        group.attrs.update(attrs)
    return path


def _frame(h=80, w=96):
    rng = np.random.default_rng(3)
    return np.clip(np.round(rng.normal(120, 30, (h, w))), 0, 255).astype(np.uint8)


def _refused_before_work(tmp_path, source, model_file, *words):
    status, why = restore_zarr_file(source, tmp_path / "out", "", _spec(model_file), quiet=True)
    assert status == "failed" and "\n" not in why and str(source) in why, why
    for word in words:
        assert word in why, why
    assert "Error" not in why  # no raw exception names
    assert not list((tmp_path / "out").glob(PARTIAL_GLOB))  # nothing was started
    return why


def test_a_zarr_declaring_a_million_squared_pixels_is_refused_at_the_pixel_limit(tmp_path, model_file, monkeypatch):
    monkeypatch.delenv("MIDNET_MAX_PIXELS", raising=False)
    source = _zarr(tmp_path / "huge.zarr", shape=(10**6, 10**6))
    start = time.perf_counter()
    _refused_before_work(tmp_path, source, model_file, "MIDNET_MAX_PIXELS", "1,000,000,000,000")
    assert time.perf_counter() - start < 10  # metadata only: not minutes of reading


def test_a_zarr_whose_output_cannot_fit_the_free_disk_is_refused_with_the_plan(tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("MIDNET_MAX_PIXELS", str(10**13))  # raised on purpose: the disk is what must refuse it
    source = _zarr(tmp_path / "huge.zarr", shape=(10**6, 10**6))
    _refused_before_work(tmp_path, source, model_file, "free")


def test_the_plan_is_stated_before_the_work(tmp_path, model_file, capsys):
    source = _zarr(tmp_path / "small.zarr", _frame())
    assert restore_zarr_file(source, tmp_path / "out", "", _spec(model_file), quiet=False)[0] == "restored"
    plan = [line for line in capsys.readouterr().err.splitlines() if line.startswith("plan:")]
    assert len(plan) == 1 and "7,680 pixels" in plan[0] and "free" in plan[0], plan


@pytest.mark.parametrize("dtype", ["bool", "complex64"])
def test_bool_and_complex_zarr_arrays_are_refused_as_tiffs_are(tmp_path, model_file, dtype):
    source = _zarr(tmp_path / f"{dtype}.zarr", np.ones((64, 64), dtype=dtype))
    _refused_before_work(tmp_path, source, model_file, dtype)


def _ome(path, array, multiscales):
    return _zarr(path, array, attrs={"ome": {"version": "0.5", "multiscales": multiscales}})


def _axes(*names):
    kinds = {"t": "time", "c": "channel"}
    return [{"name": n, "type": kinds.get(n, "space")} for n in names]


def _level(path="0", scale=None):
    return {"path": path, "coordinateTransformations": [{"type": "scale", "scale": scale or [1.0, 1.0]}]}


@pytest.mark.parametrize("axes, shape", [(("z", "y", "x"), (64, 64)), (None, (1, 1, 1, 1, 64, 64))])
def test_axes_that_do_not_fit_the_array_are_refused_before_any_plane(tmp_path, model_file, axes, shape):
    array = np.ones(shape, np.uint8)
    if axes is None:
        source = _zarr(tmp_path / "six.zarr", array)
    else:
        source = _ome(tmp_path / "three.zarr", array, [{"axes": _axes(*axes), "datasets": [_level(scale=[1, 1, 1])]}])
    _refused_before_work(tmp_path, source, model_file, "axes")


@pytest.mark.parametrize("multiscales, named", [
    ("not a list", "multiscales"),
    ([], "multiscales"),
    ([{"datasets": []}], "datasets"),
    ([{"datasets": [{"path": 5}]}], "path"),
    ([{"datasets": [{"path": "missing"}]}], "path"),
    ([{"datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale"}]}]}], "coordinateTransformations"),
    ([{"datasets": [{"path": "0", "coordinateTransformations": "scale"}]}], "coordinateTransformations"),
    ([{"axes": [5, 6], "datasets": [_level()]}], "axes"),
    ([{"axes": "yx", "datasets": [_level()]}], "axes"),
])
def test_wrong_ome_zarr_attributes_are_one_line_naming_the_attribute(tmp_path, model_file, multiscales, named):
    source = _ome(tmp_path / "bad.ome.zarr", np.ones((64, 64), np.uint8), multiscales)
    _refused_before_work(tmp_path, source, model_file, named)


def test_a_float_zarr_holding_nan_is_one_line(tmp_path, model_file):
    array = np.ones((64, 64), np.float32)
    array[5, 5] = np.nan
    source = _zarr(tmp_path / "nan.zarr", array)
    status, why = restore_zarr_file(source, tmp_path / "out", "", _spec(model_file), quiet=True)
    assert status == "failed" and "NaN" in why and "\n" not in why


HOLD = """
import sys, time
from pathlib import Path
from midnet.cluster.large_images import output_lock
with output_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_run_into_a_locked_output_is_refused_and_a_killed_runs_lock_does_not_block(tmp_path, model_file):
    source = _zarr(tmp_path / "frame.zarr", _frame())
    final = output_name(source, tmp_path / "out")
    final.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(final)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        status, why = restore_zarr_file(source, tmp_path / "out", "", _spec(model_file), quiet=True)
        assert status == "failed" and "another midnet run" in why and "\n" not in why
        assert not final.exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a killed run: its lock goes with it
        holder.wait(30)
    assert restore_zarr_file(source, tmp_path / "out", "", _spec(model_file), quiet=True) == ("restored", "")
    assert json.loads((final / "zarr.json").read_text())["attributes"]["midnet"]["frames"] == "block by block"
