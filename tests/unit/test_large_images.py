"""Zarr / OME-Zarr images restored block by block (midnet/cluster/large_images.py), in this process: no cluster.

A small MIDNet (width 8, perturbed beta/gamma) on small generated images with small chunks, so that
the tiles, the output chunk rows and the resumption points are many.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

zarr = pytest.importorskip("zarr")

from midnet.cluster import large_images  # noqa: E402
from midnet.cluster.files import RestorerSpec  # noqa: E402
from midnet.inference.restore import make_restorer  # noqa: E402
from midnet.inference.settings import RestoreSettings  # noqa: E402
from midnet.cluster.large_images import open_lazy, restore_zarr_file  # noqa: E402

from ..conftest import smooth_image  # noqa: E402

TILE, OVERLAP = 64, 32



@pytest.fixture
def image() -> np.ndarray:
    """A 12-bit frame in a uint16 file, off the network's 16-px grid (the edge tiles reach into the padding)."""
    frame = smooth_image(170, 205, seed=5) * 3000 + 500
    frame += np.random.default_rng(1).normal(0, 60, frame.shape)
    return np.round(frame).clip(0, 4095).astype(np.uint16)


def _ome_zarr(path, array, scale=(0.5, 0.5)):
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array("0", shape=array.shape, chunks=(48, 48), dtype=array.dtype)[:] = array
    axes = [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]
    write_multiscales_metadata(group, [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": list(scale)}]}], axes=axes)
    return path


def _spec(model_file, tile=TILE):
    return RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=tile, overlap=OVERLAP, infobar="none"))


@pytest.mark.slow
def test_a_lazily_read_ome_zarr_is_restored_as_the_in_memory_tiled_path_restores_it(model_file, image, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr(large_images, "CHUNK", 32)  # many output chunk rows
    source = _ome_zarr(tmp_path / "frame.ome.zarr", image)
    assert restore_zarr_file(source, tmp_path / "out", "", _spec(model_file)) == ("restored", "")
    result = open_lazy(tmp_path / "out" / "frame.ome.zarr")
    got = result.array.compute()
    spec = _spec(model_file)
    in_memory = make_restorer(spec.settings).deblur(image, "none")  # the same tiles, the frame whole in memory
    # the same tiles read from the store, the same whole-frame statistics and intensity map, the same blend
    # in the same order: equal to the bit (the tiled path's own tolerance is against the untiled frame)
    np.testing.assert_array_equal(got, in_memory)
    assert np.abs(got.astype(int) - image).mean() > 5  # the network did change the frame
    assert got.max() <= 4095  # 12-bit data stays 12-bit, as in memory
    whole = make_restorer(RestoreSettings.exact(model=str(model_file), infobar="none")).deblur(image, "none")
    # against the untiled frame, only the tiled path's own difference remains (tests/unit/test_tiling_equality.py):
    # 64-px tiles see the convolutions' reach cut at their borders; measured 3 levels here, 1.5e-3 of the
    # 1..99.8 percentile span (about 2050 levels) the network works on
    assert np.abs(got.astype(int) - whole).max() <= 4
    group = zarr.open_group(str(tmp_path / "out" / "frame.ome.zarr"), mode="r")
    datasets = group.attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"] for d in datasets][:1] == [[0.5, 0.5]]
    assert result.scale == [0.5, 0.5] and result.axes == ["y", "x"]
    assert group.attrs["midnet"]["tile"] == TILE and group.attrs["midnet"]["weights_sha256"]  # how it was made


@pytest.mark.slow
def test_a_pyramid_of_2x2_means_with_doubled_scales(model_file, tmp_path, monkeypatch):
    monkeypatch.setattr(large_images, "MIN_PYRAMID_SIDE", 40)
    frame = np.round(smooth_image(176, 208, seed=2) * 200).astype(np.uint8)
    source = _ome_zarr(tmp_path / "f.ome.zarr", frame, scale=(2.0, 3.0))
    restore_zarr_file(source, tmp_path, "_restored", _spec(model_file))
    group = zarr.open_group(str(tmp_path / "f_restored.ome.zarr"), mode="r")
    datasets = group.attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["0", "1", "2"]
    assert [d["coordinateTransformations"][0]["scale"] for d in datasets] == [[2.0, 3.0], [4.0, 6.0], [8.0, 12.0]]
    level0, level1 = np.asarray(group["0"]).astype(float), np.asarray(group["1"])
    assert level1.shape == (88, 104)
    np.testing.assert_array_equal(level1, np.round(level0.reshape(88, 2, 104, 2).mean((1, 3))).astype(np.uint8))


class Interrupted(Exception):
    pass


@pytest.mark.slow
def test_a_killed_run_resumes_block_by_block_and_publishes_only_when_complete(model_file, image, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(large_images, "CHUNK", 32)
    source = _ome_zarr(tmp_path / "frame.ome.zarr", image)
    spec = _spec(model_file)
    restore_zarr_file(source, tmp_path / "whole", "", spec)
    uninterrupted = open_lazy(tmp_path / "whole" / "frame.ome.zarr").array.compute()

    out = tmp_path / "out"
    store = out / f".frame.ome.zarr{large_images.PARTIAL}"
    calls = []
    grid = large_images.tile_plan(make_restorer(spec.settings).network, *image.shape, TILE, OVERLAP)
    stop = len(grid.ys) * len(grid.xs) + 2 * len(grid.xs) + 1  # all of pass 1, two rows of tiles and one more

    def stop_in_pass_two():
        calls.append(1)
        if len(calls) == stop:
            raise Interrupted

    large_images._prepare(store, open_lazy(source), large_images.block_spec(spec))  # the spec restore_zarr_file runs
    with pytest.raises(Interrupted):
        large_images.restore_plane(make_restorer(spec.settings).network, open_lazy(source), (), store, TILE, OVERLAP, 0,
                                   stop_in_pass_two)
    done = json.loads((store / "midnet-progress" / "plane.json").read_text())["rows"]
    assert 0 < done < image.shape[0] and done % 32 == 0  # whole chunk rows were recorded
    assert not (out / "frame.ome.zarr").exists()  # nothing under the final name until complete

    def no_second_pass_one(*args, **kwargs):
        raise AssertionError("the statistics of pass 1 were recorded: a resumed run must not redo them")

    monkeypatch.setattr(large_images, "record_statistics", no_second_pass_one)
    assert restore_zarr_file(source, out, "", spec) == ("restored", "")
    np.testing.assert_array_equal(open_lazy(out / "frame.ome.zarr").array.compute(), uninterrupted)
    assert not store.exists() and not (out / "frame.ome.zarr" / "midnet-progress").exists()
    assert restore_zarr_file(source, out, "", spec)[0] == "skipped"  # done: a rerun keeps it


@pytest.mark.slow
def test_a_partial_store_of_other_options_is_started_over(model_file, image, tmp_path):
    source = _ome_zarr(tmp_path / "frame.ome.zarr", image)
    store = tmp_path / "out" / f".frame.ome.zarr{large_images.PARTIAL}"
    large_images._prepare(store, open_lazy(source), _spec(model_file, tile=96))
    (store / "midnet-progress").mkdir()
    (store / "midnet-progress" / "plane.json").write_text(json.dumps({"rows": 64, "finished": True}))
    assert restore_zarr_file(source, tmp_path / "out", "", _spec(model_file)) == ("restored", "")
    in_memory = make_restorer(_spec(model_file).settings).deblur(image, "none")
    np.testing.assert_array_equal(open_lazy(tmp_path / "out" / "frame.ome.zarr").array.compute(), in_memory)


@pytest.mark.slow
@pytest.mark.parametrize("record", ["run", "plane"])
def test_a_torn_record_of_a_partial_store_is_started_over_not_refused(model_file, image, tmp_path, record):
    # A kill or a full disk can leave a record empty; before, every rerun of the input then failed.
    source = _ome_zarr(tmp_path / "frame.ome.zarr", image)
    store = tmp_path / "out" / f".frame.ome.zarr{large_images.PARTIAL}"
    large_images._prepare(store, open_lazy(source), large_images.block_spec(_spec(model_file)))
    (store / "midnet-progress").mkdir()
    (store / "midnet-progress" / "plane.json").write_text(json.dumps({"rows": 64, "finished": True}))
    torn = store / large_images.RUN_FILE if record == "run" else store / "midnet-progress" / "plane.json"
    torn.write_text('{"signat')
    assert restore_zarr_file(source, tmp_path / "out", "", _spec(model_file)) == ("restored", "")
    in_memory = make_restorer(_spec(model_file).settings).deblur(image, "none")
    np.testing.assert_array_equal(open_lazy(tmp_path / "out" / "frame.ome.zarr").array.compute(), in_memory)


def test_a_damaged_store_is_one_failed_line(model_file, tmp_path):
    (tmp_path / "bad.zarr").mkdir()
    (tmp_path / "bad.zarr" / "zarr.json").write_text("{not json")
    status, why = restore_zarr_file(tmp_path / "bad.zarr", tmp_path / "out", "", _spec(model_file))
    assert status == "failed" and "bad.zarr" in why and "\n" not in why


def test_a_tiled_bigtiff_is_read_lazily_through_tifffiles_zarr_store(tmp_path):
    import tifffile

    frame = np.random.default_rng(0).integers(0, 65535, (300, 400), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "tiled.tif", frame, tile=(128, 128), bigtiff=True)
    image = open_lazy(tmp_path / "tiled.tif")
    assert image.array.chunks == ((128, 128, 44), (128, 128, 128, 16))  # the TIFF's tiles: read one by one
    np.testing.assert_array_equal(image.array[100:200, 250:390].compute(), frame[100:200, 250:390])
    assert large_images.output_name(tmp_path / "tiled.tif", tmp_path / "out") == tmp_path / "out" / "tiled.ome.zarr"


@pytest.mark.slow
def test_midnet_deblur_writes_name_ome_zarr_and_keeps_an_info_bar(model_file, image, tmp_path):
    from click.testing import CliRunner

    from midnet.cli import cli

    framed = image.copy()
    framed[-10:] = 4095  # an info bar: kept as it was with --infobar 10
    zarr.open_array(str(tmp_path / "scan.zarr"), mode="w", shape=framed.shape, chunks=(64, 64),
                    dtype=np.uint16)[:] = framed
    args = ["deblur", str(tmp_path / "scan.zarr"), "-o", str(tmp_path / "out"), "--model", str(model_file),
            "--tile", "64", "--overlap", "32", "--infobar", "10", "--engine", "torch", "--quiet",
            "--report", str(tmp_path / "run.jsonl")]
    result = CliRunner().invoke(cli, args, obj={})
    assert result.exit_code == 0, result.output
    line, = map(json.loads, (tmp_path / "run.jsonl").read_text().splitlines())  # one line, as for a file
    assert line == {"input": str(tmp_path / "scan.zarr"), "output": str(tmp_path / "out" / "scan.ome.zarr"),
                    "status": "restored", "seconds": line["seconds"], "worker": None, "error": None}
    got = open_lazy(tmp_path / "out" / "scan.ome.zarr").array.compute()
    # the in-memory restorer, same tiles, info bar and precision (the command's default, auto: bf16 where native)
    want = make_restorer(_spec(model_file).settings.replace(precision="auto")).deblur(framed, 10)
    np.testing.assert_array_equal(got, want)
    assert (got[-10:] == 4095).all()
    again = CliRunner().invoke(cli, args, obj={})
    assert again.exit_code == 0 and "1 skipped" in again.output
    line, = map(json.loads, (tmp_path / "run.jsonl").read_text().splitlines())
    assert line["status"] == "skipped" and "scan.ome.zarr exists" in line["error"]


def test_only_tiled_grey_tiffs_over_the_pixel_limit_go_block_by_block(tmp_path, monkeypatch):
    import tifffile

    from midnet.cli.cluster import is_large_tiled_tiff

    frame = np.zeros((96, 128), np.uint16)
    tifffile.imwrite(tmp_path / "tiled.tif", frame, tile=(32, 32), bigtiff=True)
    tifffile.imwrite(tmp_path / "strips.tif", frame)
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((96, 128, 3), np.uint8), tile=(32, 32), photometric="rgb")
    monkeypatch.setenv("MIDNET_MAX_PIXELS", str(96 * 128))  # at the limit: the in-memory path reads it
    assert not is_large_tiled_tiff(tmp_path / "tiled.tif")
    monkeypatch.setenv("MIDNET_MAX_PIXELS", str(96 * 128 - 1))  # over it: refused in memory, so block by block
    assert is_large_tiled_tiff(tmp_path / "tiled.tif")
    assert not is_large_tiled_tiff(tmp_path / "strips.tif")  # no tiles to read one by one: refused as before
    assert not is_large_tiled_tiff(tmp_path / "rgb.tif")  # no grey plane: refused as before
    (tmp_path / "junk.tif").write_bytes(b"II*\0 not a tiff")
    assert not is_large_tiled_tiff(tmp_path / "junk.tif")  # the in-memory path reports it, as any bad file


@pytest.mark.slow
def test_midnet_deblur_restores_a_large_tiled_bigtiff_block_by_block_with_a_report_line_each(
        model_file, image, tmp_path, monkeypatch):
    import os

    import tifffile
    from click.testing import CliRunner

    from midnet.cli import cli

    tifffile.imwrite(tmp_path / "big.tif", image, tile=(64, 64), bigtiff=True)
    small = np.ascontiguousarray(image[:96, :112])
    tifffile.imwrite(tmp_path / "small.tif", small)  # an ordinary TIFF beside it: the in-memory path, as before
    before = (tmp_path / "big.tif").read_bytes(), os.stat(tmp_path / "big.tif").st_mtime_ns
    monkeypatch.setenv("MIDNET_MAX_PIXELS", str(small.size))  # big.tif is over the limit, small.tif at it
    report = tmp_path / "run.jsonl"
    args = ["deblur", str(tmp_path / "big.tif"), str(tmp_path / "small.tif"), "-o", str(tmp_path / "out"),
            "--model", str(model_file), "--tile", "64", "--overlap", "32", "--infobar", "none", "--engine", "torch",
            "--quiet", "--report", str(report)]
    result = CliRunner().invoke(cli, args, obj={})
    assert result.exit_code == 0, result.output
    assert "2 restored, 0 skipped, 0 failed" in result.output
    got = open_lazy(tmp_path / "out" / "big.ome.zarr").array.compute()
    restorer = make_restorer(_spec(model_file).settings.replace(precision="auto"))  # as the command
    np.testing.assert_array_equal(got, restorer.deblur(image, "none"))  # the in-memory tiled result, to the bit
    alone = CliRunner().invoke(cli, ["deblur", str(tmp_path / "small.tif"), "-o", str(tmp_path / "alone")]
                               + args[5:-2], obj={})  # small.tif by itself: the ordinary single-process path
    assert alone.exit_code == 0, alone.output
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "small.tif"),
                                  tifffile.imread(tmp_path / "alone" / "small.tif"))
    assert ((tmp_path / "big.tif").read_bytes(), os.stat(tmp_path / "big.tif").st_mtime_ns) == before
    lines = {os.path.basename(x["input"]): x for x in map(json.loads, report.read_text().splitlines())}
    assert set(lines) == {"big.tif", "small.tif"}
    assert lines["big.tif"]["output"] == str(tmp_path / "out" / "big.ome.zarr")
    assert lines["small.tif"]["output"] == str(tmp_path / "out" / "small.tif")
    for line in lines.values():
        assert set(line) == {"input", "output", "status", "seconds", "worker", "error"}
        assert line["status"] == "restored" and line["error"] is None and line["seconds"] > 0
        assert line["worker"] is None  # this process, no cluster
    again = CliRunner().invoke(cli, args, obj={})  # a rerun skips both, and says so in the report
    assert again.exit_code == 0 and "0 restored, 2 skipped" in again.output
    statuses = [(os.path.basename(x["input"]), x["status"], bool(x["error"]))
                for x in map(json.loads, report.read_text().splitlines())]
    assert sorted(statuses) == [("big.tif", "skipped", True), ("small.tif", "skipped", True)]


@pytest.mark.slow
def test_a_zarr_output_records_what_ran_bf16_asked_is_bf16_run(model_file, image, tmp_path):
    source = _ome_zarr(tmp_path / "frame.ome.zarr", image)
    asked = RestorerSpec(RestoreSettings(model=str(model_file), tile=TILE, overlap=OVERLAP, engine="onnx",
                                         precision="bf16", infobar="none"))  # a whole-frame engine: not block by block
    assert restore_zarr_file(source, tmp_path / "out", "", asked) == ("restored", "")
    made = zarr.open_group(str(tmp_path / "out" / "frame.ome.zarr"), mode="r").attrs["midnet"]
    assert (made["engine"], made["precision"], made["frames"]) == ("torch", "bf16", "block by block")
    got = open_lazy(tmp_path / "out" / "frame.ome.zarr").array.compute()
    bf16 = make_restorer(asked.settings.replace(engine="torch"))
    assert next(bf16.tile_network.parameters()).dtype == torch.bfloat16  # the module the tiles run through
    # the in-memory restorer's bf16 tiles, read from the store: equal to the bit (as the fp32 test above)
    np.testing.assert_array_equal(got, bf16.deblur(image, "none"))
    fp32 = make_restorer(_spec(model_file).settings).deblur(image, "none")
    assert np.abs(got.astype(int) - fp32).max() > 0  # bf16 did run: its rounding shows


def test_tta_and_uncertainty_are_refused_for_zarr_inputs_in_one_line(model_file, tmp_path):
    from click.testing import CliRunner

    from midnet.cli import cli

    zarr.open_array(str(tmp_path / "scan.zarr"), mode="w", shape=(64, 64), chunks=(32, 32), dtype=np.uint8)[:] = 7
    for flag in ("--tta", "--uncertainty"):
        result = CliRunner().invoke(cli, ["deblur", str(tmp_path / "scan.zarr"), "-o", str(tmp_path / "out"),
                                          "--model", str(model_file), flag], obj={})
        assert result.exit_code == 2 and "--tta and --uncertainty do not apply to Zarr" in result.output
        assert not (tmp_path / "out").exists()
    spec = RestorerSpec(RestoreSettings.exact(model=str(model_file), tta=True, infobar="none"))
    status, why = restore_zarr_file(tmp_path / "scan.zarr", tmp_path / "out", "", spec)  # the API says it too
    assert status == "failed" and "do not apply to Zarr" in why and "\n" not in why


def test_a_plane_that_raises_fails_its_file_and_the_next_file_is_restored(model_file, tmp_path, monkeypatch):
    stack = np.round(np.stack([smooth_image(48, 64, seed=s) for s in range(3)]) * 200).astype(np.uint8)
    for name in ("a.zarr", "b.zarr"):
        zarr.open_array(str(tmp_path / name), mode="w", shape=stack.shape, chunks=(1, 48, 64),
                        dtype=np.uint8)[:] = stack
    plane = large_images.restore_plane

    def second_plane_of_a_raises(net, image, index, *args, **kwargs):
        if image.source.name == "a.zarr" and index == (1,):
            raise RuntimeError("simulated failure in a plane")
        return plane(net, image, index, *args, **kwargs)

    monkeypatch.setattr(large_images, "restore_plane", second_plane_of_a_raises)
    status, why = restore_zarr_file(tmp_path / "a.zarr", tmp_path / "out", "", _spec(model_file))
    assert status == "failed" and "a.zarr" in why and "RuntimeError: simulated failure" in why and "\n" not in why
    assert restore_zarr_file(tmp_path / "b.zarr", tmp_path / "out", "", _spec(model_file)) == ("restored", "")


def test_a_resumed_run_with_no_plane_left_still_records_how_it_was_made(model_file, tmp_path, monkeypatch, capsys):
    frame = np.round(smooth_image(48, 64, seed=4) * 200).astype(np.uint8)
    zarr.open_array(str(tmp_path / "s.zarr"), mode="w", shape=frame.shape, chunks=(48, 64), dtype=np.uint8)[:] = frame
    spec = RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=TILE, overlap=OVERLAP))
    finish = large_images._finish

    class Killed(BaseException):  # as a kill: not an error of the file, which restore_zarr_file would report
        pass

    def killed_before_finishing(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(large_images, "_finish", killed_before_finishing)
    with pytest.raises(Killed):  # every plane done, killed before the store got its name
        restore_zarr_file(tmp_path / "s.zarr", tmp_path / "out", "", spec)
    assert "--infobar auto is not looked for" in capsys.readouterr().err  # auto means 0 rows: said, once
    monkeypatch.setattr(large_images, "_finish", finish)
    monkeypatch.setattr(large_images, "_planes_here", lambda *args: {})  # what a cluster run with no plane left returns
    assert restore_zarr_file(tmp_path / "s.zarr", tmp_path / "out", "", spec) == ("restored", "")
    made = zarr.open_group(str(tmp_path / "out" / "s.ome.zarr"), mode="r").attrs["midnet"]
    assert made["engine"] == "torch" and made["frames"] == "block by block" and made["weights_sha256"]
