"""Images larger than memory: Zarr / OME-Zarr (and tiled TIFF) restored block by block into OME-Zarr.

The image is never read whole. Each 2-D plane goes through the tiled path of midnet/inference/tiling.py,
with the tiles read from the store as they are needed:

1. a strided read (``plane[::s, ::s]``, s from :func:`midnet.images.intensity.sample_step`, a dask
   array computed chunk by chunk) gives the intensity map and the data's maximum: the very
   subsample the in-memory path measures a large frame on, so both give the same map;
2. a first pass over the tiles records every channel-attention pool's whole-frame sums
   (tiling's :func:`record_means`, the pass ``predict_tiled`` runs);
3. a second pass runs the tiles row by row with those whole-frame means and blends them with
   tiling's :func:`blend_rows`, the blending ``predict_tiled`` runs (same windows, same order of
   sums), so the result is the in-memory tiled result of the restorer's tile network
   (:attr:`NetworkRestorer.tile_network`: fp32, or its bf16/fp16 copy for ``--precision``; engine torch,
   no TTA: see :func:`block_spec`); a row of the output is final once the next row of tiles starts
   below it, and is written out then. Memory: a band of two tile rows by the plane's width.

Output: ``DIR/NAME.ome.zarr`` (OME-Zarr 0.5 by ome-zarr's writer) with the input's axes and
scale, and a pyramid of 2x2 means. It is built under a hidden temporary name and renamed when
complete; finished rows (whole chunk rows) and the pass-1 statistics of every plane are
recorded there, so a killed run resumes where it stopped. The planes of a stack (z, t or
channels) are restored one per task on a dask cluster, or one after the other here.
The info bar of a micrograph is not looked for (``--infobar auto`` means none, with a warning line):
give ``--infobar ROWS`` to keep bottom rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import torch
import torch.nn.functional as F
import zarr

from ..images import intensity
from ..errors import MidnetError
from ..images.io import dtype_range
from ..inference.restore import AUTO_OVERLAP, AUTO_TILE, NetworkRestorer, make_restorer, to_dtype, to_file_scale
from ..inference.tiling import TilePlan, TileSource, blend_rows, plan_tiles, record_means

CHUNK = 1024  # output chunk side: the unit of resumption (whole chunk rows are written at once)
PARTIAL = ".midnet-partial"
RUN_FILE = "midnet-run.json"
MIN_PYRAMID_SIDE = 256  # the pyramid goes down by 2x2 means until its smaller side would fall below this


@dataclass
class LazyImage:
    """A lazily read image: the dask array, its axis names (last two y, x) and its level-0 pixel scale."""

    array: da.Array
    axes: list[str]
    scale: list[float]
    source: Path

    @property
    def planes(self) -> list[tuple[int, ...]]:
        return [tuple(int(i) for i in index) for index in np.ndindex(*self.array.shape[:-2])]


def output_name(source: Path, outdir: Path, suffix: str = "") -> Path:
    name = source.name
    for ending in (".ome.zarr", ".zarr", ".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return outdir / f"{name}{suffix}.ome.zarr"


def open_lazy(path: str | os.PathLike) -> LazyImage:
    """A Zarr array, an OME-Zarr image (its full-resolution level) or a tiled TIFF, as a dask array.

    Everything the work will rely on is checked here, before any plane is read: the OME-Zarr
    attributes (one line naming a wrong one), the pixel type (integer or float, as TIFFs must be)
    and axes that fit the array (at most 5, as OME-Zarr allows).
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            node = zarr.open(tifffile.imread(path, aszarr=True), mode="r")
        else:
            node = zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr and tifffile raise many kinds for a damaged or foreign store
        raise MidnetError(f"{path}: cannot open it as Zarr or tiled TIFF ({type(exc).__name__}: {exc}); "
                          "is it complete?") from exc
    axes, scale = None, None
    if isinstance(node, zarr.Group):
        node, axes, scale = _image_node(node, path)
    if node.ndim < 2:
        raise MidnetError(f"{path}: a {node.ndim}-D array is not an image; give one with y and x as its last axes")
    if node.dtype.kind not in "uif":  # bool, complex, strings...: the TIFF path refuses them too
        raise MidnetError(f"{path}: {node.dtype} pixels are not an image midnet restores; convert the array to "
                          "integer or float pixels")
    axes = fit_axes(path, axes, node.ndim)
    if scale is not None and len(scale) != node.ndim:
        raise _bad_attribute(path, "multiscales[0].datasets[0].coordinateTransformations",
                             f"a scale of {len(scale)} numbers for a {node.ndim}-D array")
    return LazyImage(da.from_zarr(node), axes, [float(s) for s in (scale or [1.0] * node.ndim)], path)


def _bad_attribute(path: Path, name: str, what: str) -> MidnetError:
    return MidnetError(f"{path}: its OME-Zarr attribute {name} is {what}; fix the attribute or re-export the image")


def _image_node(group, path: Path):
    """(array, axis names or None, level-0 scale or None) of a Zarr group: its OME-Zarr level 0, or its first array."""
    attrs = group.attrs.asdict()
    ome = attrs.get("ome", attrs)
    multiscales = ome.get("multiscales") if isinstance(ome, dict) else None
    if multiscales is None and "multiscales" not in (ome if isinstance(ome, dict) else {}):
        arrays = sorted(group.array_keys())
        if not arrays:
            raise MidnetError(f"{path}: a Zarr group without arrays or OME-Zarr multiscales; give an image")
        return group[arrays[0]], None, None
    if not (isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict)):
        raise _bad_attribute(path, "multiscales", f"{_shown(multiscales)}, not a list of mappings")
    first = multiscales[0]
    datasets = first.get("datasets")
    if not (isinstance(datasets, list) and datasets and isinstance(datasets[0], dict)):
        raise _bad_attribute(path, "multiscales[0].datasets", f"{_shown(datasets)}, not a list of mappings")
    name = datasets[0].get("path")
    try:
        node = group[name] if isinstance(name, str) else None
    except KeyError:
        node = None
    if not isinstance(node, zarr.Array):
        raise _bad_attribute(path, "multiscales[0].datasets[0].path", f"{_shown(name)}, not an array of the group")
    return node, _axis_names(path, first.get("axes")), _level_scale(path, datasets[0].get("coordinateTransformations"))


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _axis_names(path: Path, axes) -> list[str] | None:
    """The names of ``multiscales[0].axes`` (mappings with a name, or plain names), or None when absent."""
    if axes is None:
        return None
    names = [a.get("name") if isinstance(a, dict) else a for a in axes] if isinstance(axes, list) else None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise _bad_attribute(path, "multiscales[0].axes", f"{_shown(axes)}, not a list of named axes")
    return names


def _level_scale(path: Path, transforms) -> list[float] | None:
    """The ``scale`` of level 0's coordinateTransformations, or None when it has none."""
    where = "multiscales[0].datasets[0].coordinateTransformations"
    if transforms is None:
        return None
    if not (isinstance(transforms, list) and all(isinstance(t, dict) for t in transforms)):
        raise _bad_attribute(path, where, f"{_shown(transforms)}, not a list of mappings")
    for t in transforms:
        if t.get("type") == "scale":
            scale = t.get("scale")
            if not (isinstance(scale, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    and 0 < v < float("inf") for v in scale)):
                raise _bad_attribute(path, where, f"a scale of {_shown(scale)}, not a list of positive numbers")
            return scale
    return None


def fit_axes(path: Path, axes: list[str] | None, ndim: int) -> list[str]:
    """Axis names for an ``ndim``-D array (y and x last), checked as the OME-Zarr writer will check the output's."""
    from ome_zarr.axes import Axes
    from ome_zarr.format import CurrentFormat

    if ndim > 5:
        raise MidnetError(f"{path}: a {ndim}-D array; OME-Zarr images have at most 5 axes (t, c, z, y, x), so its "
                          "restoration could not be written: split it into arrays of at most 5 axes")
    axes = list(axes) if axes else ["t", "c", "z"][3 - (ndim - 2):] + ["y", "x"]
    if len(axes) == ndim - 2:
        axes += ["y", "x"]
    if len(axes) != ndim or len(set(axes)) != ndim or axes[-2:] != ["y", "x"]:
        raise MidnetError(f"{path}: its axes {axes} do not fit its {ndim}-D array (one distinct name per "
                          "dimension, y and x last); fix multiscales[0].axes")
    try:
        Axes(axes, None, CurrentFormat())
    except ValueError as exc:
        raise MidnetError(f"{path}: its axes {axes} are not valid OME-Zarr axes ({exc}); fix multiscales[0].axes") from exc
    return axes


# ---------------------------------------------------------------- one plane, tile by tile


@dataclass
class PlaneScale:
    """The file scale (offset, span), the data ceiling and the intensity map of one plane."""

    offset: float
    span: float
    ceiling: float
    low: float
    width: float

    @property
    def map(self) -> intensity.IntensityMap:
        return intensity.IntensityMap(self.low, self.width)


def measure_plane(plane: da.Array) -> PlaneScale:
    """The plane's scale from one strided read and its extremes (dask, chunk by chunk: bounded memory).

    The sample is the regular grid the in-memory path measures a frame of this size on, so the map is
    the same; its difference from percentiles over every pixel is measured in docs/performance.md.
    """
    step = intensity.sample_step(plane.shape[0] * plane.shape[1])
    # in this process (a task on a worker must not wait for the cluster it occupies), chunk by chunk
    sample, lo, hi = da.compute(plane[::step, ::step], plane.min(), plane.max(), scheduler="synchronous")
    if np.issubdtype(plane.dtype, np.integer):
        offset, span = 0.0, dtype_range(plane.dtype)
        ceiling = _ceiling(plane.dtype, int(hi))
    else:
        lo, hi = float(lo), float(hi)
        offset, span = (0.0, 1.0) if 0.0 <= lo and hi <= 1.0 else (lo, (hi - lo) or 1.0)
        ceiling = 0.0
    scale = intensity.from_sample(to_file_scale(np.asarray(sample), offset, span))
    return PlaneScale(offset, span, ceiling, scale.low, scale.span)


def _ceiling(dtype: np.dtype, largest: int) -> float:
    """midnet.images.io.data_ceiling from the data's maximum alone."""
    from ..images.io import data_ceiling

    return data_ceiling(np.array([largest], dtype=dtype))


def tile_plan(net: torch.nn.Module, h: int, w: int, tile: int, overlap: int) -> TilePlan:
    """predict_tiled's tiling of an (h, w) plane for ``net`` (midnet/inference/tiling.py's plan: the same tiles)."""
    return plan_tiles(h, w, tile, overlap, net.padder_size)


def _tile_input(read: Callable, grid: TilePlan, scale: PlaneScale, y: int, x: int, chans: int) -> torch.Tensor:
    """The network's input for the tile at (y, x): read, mapped as the whole frame is, padded as it is."""
    y1, x1 = min(y + grid.th, grid.h), min(x + grid.tw, grid.w)
    values = scale.map.forward(to_file_scale(read(y, y1, x, x1), scale.offset, scale.span))
    tensor = torch.from_numpy(values)[None, None]
    pad_h, pad_w = y + grid.th - y1, x + grid.tw - x1
    if pad_h or pad_w:  # only tiles at the bottom or right edge reach into the frame's padding
        # pad_to_multiple's choice for the whole frame: reflection unless a side is too short
        mode = "reflect" if grid.ph - grid.h < grid.h and grid.pw - grid.w < grid.w else "replicate"
        tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode=mode)
    return tensor.expand(-1, chans, -1, -1).contiguous() if chans > 1 else tensor


def _tile_source(read: Callable, grid: TilePlan, scale: PlaneScale, chans: int) -> TileSource:
    """The network's input for tile (row, column) of ``grid``, read from the store as it is needed."""
    return lambda iy, ix: _tile_input(read, grid, scale, grid.ys[iy], grid.xs[ix], chans)


@torch.inference_mode()
def record_statistics(net, read, grid: TilePlan, scale: PlaneScale, on_tile=None) -> list[torch.Tensor] | None:
    """Pass 1: the whole-frame mean of every channel-attention pool, in the order of the pools (or None)."""
    chans = net.in_chans
    return record_means(net, grid, _tile_source(read, grid, scale, chans), on_tile)


@torch.inference_mode()
def restore_rows(net, read, grid: TilePlan, scale: PlaneScale, means, dtype, start: int = 0,
                 on_tile=None) -> Iterator[tuple[int, np.ndarray]]:
    """Pass 2: (first row, restored rows in ``dtype``) from row ``start`` down, as the rows become final.

    Each tile's prediction is brought to one channel before it is blended (a plane has one), on the CPU in fp32.
    """
    chans = net.in_chans
    one_channel = (lambda pred: pred[0, 0]) if chans == 1 else (lambda pred: pred[0].mean(0))
    for first, rows in blend_rows(net, grid, _tile_source(read, grid, scale, chans), means, dtype=torch.float32,
                                  device="cpu", start=start, reduce=one_channel, on_tile=on_tile):
        yield first, final_output_rows(rows, scale, dtype)


def final_output_rows(rows: torch.Tensor, scale: PlaneScale, dtype) -> np.ndarray:
    """Network-scale rows back on the file's scale and in its dtype, as the in-memory restorer maps them."""
    values = scale.map.inverse(rows.float().cpu().numpy())
    return to_dtype(values, np.dtype(dtype), scale.offset, scale.span, scale.ceiling)


# ---------------------------------------------------------------- one plane into the store, resumable


def restore_plane(net, image: LazyImage, index: tuple[int, ...], store: Path, tile: int | None, overlap: int | None,
                  infobar_rows: int = 0, on_tile=None) -> None:
    """Restore plane ``index`` of ``image`` into level 0 of the partial store, resuming where it stopped."""
    if net is None:
        raise MidnetError(f"{image.source}: block-by-block restoration needs a network (--method midnet)")
    level = zarr.open_array(str(store / "0"), mode="r+")
    plane = image.array[index]
    h, w = plane.shape
    body = h - infobar_rows
    if body < 16 or w < 16:
        raise MidnetError(f"{image.source}: plane {index} of {w}x{body} pixels (info bar excluded) is too small")
    read = _reader(image, index)
    progress = _PlaneProgress(store, index)
    scale, means = progress.load()
    if scale is None:
        scale = measure_plane(plane[:body])
    grid = tile_plan(net, body, w, tile or AUTO_TILE, AUTO_OVERLAP if overlap is None else overlap)
    if means is None and progress.rows == 0:
        means = record_statistics(net, read, grid, scale, on_tile)
        progress.save_statistics(scale, means)
    pending_from, pending = progress.rows, []
    todo = restore_rows(net, read, grid, scale, means, plane.dtype, progress.rows, on_tile) if progress.rows < body else []
    for first, rows in todo:
        pending.append(rows)
        end = first + rows.shape[0]
        if end - pending_from >= CHUNK or end == body:  # whole chunk rows only: a killed write is redone whole
            cut = end if end == body else pending_from + (end - pending_from) // CHUNK * CHUNK
            block = np.concatenate(pending)
            level[index + (slice(pending_from, cut),)] = block[: cut - pending_from]
            pending = [block[cut - pending_from:]] if cut < end else []
            progress.rows_done(cut)
            pending_from = cut
    if infobar_rows:
        level[index + (slice(body, h),)] = plane[body:].compute(scheduler="synchronous")  # the info bar, as it was
    progress.rows_done(h, finished=True)


def _reader(image: LazyImage, index: tuple[int, ...]) -> Callable[[int, int, int, int], np.ndarray]:
    """Reads a region of plane ``index`` from the store (only the chunks it touches)."""
    array = image.array

    def read(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return np.asarray(array[index + (slice(y0, y1), slice(x0, x1))].compute(scheduler="synchronous"))

    return read


class _PlaneProgress:
    """What a partial store knows of one plane: its scale and pass-1 statistics, and the rows written."""

    def __init__(self, store: Path, index: tuple[int, ...]):
        name = "plane-" + "-".join(map(str, index)) if index else "plane"
        self.folder = store / "midnet-progress"
        self.json, self.npz = self.folder / f"{name}.json", self.folder / f"{name}.npz"
        state = _read_state(self.json)
        self.rows = int(state.get("rows", 0))
        self.finished = bool(state.get("finished", False))
        self.state = state

    def load(self) -> tuple[PlaneScale | None, list[torch.Tensor] | None]:
        if "scale" not in self.state:
            self.rows = 0  # statistics lost with the rows: start this plane over
            return None, None
        scale = PlaneScale(**self.state["scale"])
        if not self.state.get("pools"):
            return scale, None
        with np.load(self.npz) as saved:
            return scale, [torch.from_numpy(saved[f"pool{i}"]) for i in range(len(saved.files))]

    def save_statistics(self, scale: PlaneScale, means: list[torch.Tensor] | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if means is not None:
            tmp = self.npz.with_suffix(".tmp.npz")
            np.savez(tmp, **{f"pool{i}": m.cpu().numpy() for i, m in enumerate(means)})
            os.replace(tmp, self.npz)
        self.state = {"scale": scale.__dict__, "pools": means is not None, "rows": 0}
        self._write()

    def rows_done(self, rows: int, finished: bool = False) -> None:
        self.rows, self.state["rows"], self.state["finished"] = rows, rows, finished
        self._write()

    def _write(self) -> None:
        _write_state(self.json, self.state)


# ---------------------------------------------------------------- a whole file: partial store, pyramid, rename


def restore_zarr_file(source: Path, outdir: Path, suffix: str, spec, overwrite: bool = False, client=None,
                      quiet: bool = False) -> tuple[str, str]:
    """Restore a Zarr / OME-Zarr / tiled TIFF into ``outdir/NAME{suffix}.ome.zarr``: (status, why).

    ``spec`` is a :class:`midnet.cluster.files.RestorerSpec`; with a dask ``client`` the planes are tasks
    on its workers (which then hold the restorer), else they run here one after the other.
    """
    final = output_name(source, outdir, suffix)
    if final.resolve() == source.resolve():
        return "failed", f"{final}: output would overwrite the input; choose another -o folder or a --suffix"
    if final.exists() and not overwrite:
        return "skipped", f"{final} exists (use --overwrite to replace it)"
    try:
        spec = block_spec(spec)
        image = open_lazy(source)
        state_plan(image, final, quiet)
        with output_lock(final):
            _restore_locked(image, final, spec, overwrite, client, quiet)
    except MidnetError as exc:
        return "failed", str(exc) if str(source) in str(exc) else f"{source}: {exc}"
    except OSError as exc:
        return "failed", f"{source}: {exc.strerror or exc} ({exc.filename or final}); check the -o folder"
    except Exception as exc:  # a plane's RuntimeError, ValueError...: this file fails, the batch goes on
        from .files import failure

        return "failed", failure(source, exc)
    return "restored", ""


def _restore_locked(image: LazyImage, final: Path, spec, overwrite: bool, client, quiet: bool) -> None:
    """restore_zarr_file's work once its output is locked: the partial store, its planes, the finished store."""
    source = image.source
    store = final.parent / f".{final.name}{PARTIAL}"
    _prepare(store, image, spec)
    todo = [i for i in image.planes if not _PlaneProgress(store, i).finished]
    infobar = spec.settings.infobar
    rows = infobar if isinstance(infobar, int) else 0
    if infobar == "auto":  # finding it needs the whole bottom band of every plane: not looked for
        print(f"warning: {source}: --infobar auto is not looked for in Zarr or large tiled TIFF inputs; "
              "no rows kept (give --infobar ROWS to keep an info bar)", file=sys.stderr)
    tile, overlap = spec.settings.tile, spec.settings.overlap
    if client is not None:
        made = _planes_on_cluster(client, spec, source, store, todo, tile, overlap, rows, quiet)
    else:
        made = _planes_here(spec, image, store, todo, tile, overlap, rows, quiet)
    _finish(store, image, final, overwrite, made)


BLOCK_PIXEL_FACTOR = 64  # block by block, memory is bounded: 64 x MIDNET_MAX_PIXELS (2**36, 69 gigapixels by default)


def state_plan(image: LazyImage, final: Path, quiet: bool = False) -> None:
    """Say what the work is (pixels, output size, free disk) before it starts, and refuse what cannot be done.

    Memory is bounded block by block, time and disk are not: a store declaring 10**6 x 10**6 pixels (1 KB on
    disk) would run for days. The limit is MIDNET_MAX_PIXELS's, times :data:`BLOCK_PIXEL_FACTOR` (tiled TIFFs
    over the in-memory limit come this way), raised with it for larger work. The output's size is the
    uncompressed level 0 plus its pyramid (at most a third more): an upper bound, compared with the free disk.
    """
    from ..images.io import MAX_PIXELS_ENV, pixel_limit

    shape = image.array.shape
    pixels = int(np.prod(shape, dtype=np.int64)) if all(shape) else 0
    limit = pixel_limit() * BLOCK_PIXEL_FACTOR
    what = " x ".join(str(int(n)) for n in shape)
    if pixels > limit:
        raise MidnetError(f"{image.source}: {what} is {pixels:,} pixels, over the block-by-block limit of {limit:,} "
                          f"({BLOCK_PIXEL_FACTOR} x {MAX_PIXELS_ENV}); if the work is meant, raise {MAX_PIXELS_ENV} "
                          f"to at least {-(-pixels // BLOCK_PIXEL_FACTOR)}")
    size = pixels * image.array.dtype.itemsize * 4 // 3
    folder = final.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if not quiet:
        print(f"plan: {image.source}: {len(image.planes)} plane(s), {what} = {pixels:,} pixels; output {final}: up to "
              f"{_size(size)} (uncompressed, pyramid included); {_size(free)} free there", file=sys.stderr)
    if size > free:
        raise MidnetError(f"{image.source}: its restoration needs up to {_size(size)} and only {_size(free)} are free "
                          f"in {folder}; free space, or choose another -o")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


@contextlib.contextmanager
def output_lock(final: Path):
    """Hold ``final``'s lock (``.NAME.ome.zarr.midnet-lock`` beside it) while the block runs, or refuse at once.

    An OS lock (flock on POSIX, through the filelock package) goes with its process, so a killed run never
    blocks the next; a second run into the same output is refused in one line instead of tearing the first's
    partial store. File systems without working locks (some NFS setups) give no such protection.
    """
    from filelock import FileLock, Timeout

    final.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(final.parent / f".{final.name}.midnet-lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise MidnetError(f"{final}: another midnet run is writing it (it holds {lock.lock_file}); wait for that "
                          "run to end, or choose another -o or --suffix") from None
    try:
        yield
    finally:
        lock.release()


def _planes_here(spec, image, store, todo, tile, overlap, rows, quiet) -> dict:
    import sys

    from tqdm import tqdm

    restorer = make_restorer(spec.settings)
    tile_network = tile_network_of(restorer)
    grid_tiles = 0
    if todo and tile_network is not None:
        h, w = image.array.shape[-2:]
        grid = tile_plan(tile_network, h - rows, w, tile or AUTO_TILE, AUTO_OVERLAP if overlap is None else overlap)
        grid_tiles = 2 * len(grid.ys) * len(grid.xs) * len(todo)
    with tqdm(total=grid_tiles, desc=image.source.name, unit="tile", file=sys.stderr,
              disable=True if quiet else None) as bar:
        made = block_provenance(restorer)
        _remember(store, made)
        for index in todo:  # a plane's error is the file's: the store keeps what was done, a rerun resumes
            restore_plane(tile_network, image, index, store, tile, overlap, rows, lambda: bar.update(1))
    return made


def tile_network_of(restorer) -> torch.nn.Module | None:
    """The module a network restorer's tiles run through; None for a classical method (refused per plane)."""
    return restorer.tile_network if isinstance(restorer, NetworkRestorer) else None


def block_spec(spec):
    """The spec a block-by-block run builds its restorer from: engine torch at the precision asked.

    Whole-frame engines (ONNX Runtime, OpenVINO) do not apply to blocks, whose tiles share whole-frame
    statistics through torch hooks; TTA and ``--uncertainty`` (eight views of the whole plane) are refused.
    """
    if spec.settings.views:
        raise MidnetError("--tta and --uncertainty do not apply to Zarr or large tiled TIFF inputs (restored block "
                          "by block); drop them, or restore those inputs apart")
    return dataclasses.replace(spec, settings=spec.settings.replace(engine="torch"))


def block_provenance(restorer) -> dict:
    """What a block-by-block output records: the restorer's provenance (engine torch, the precision its tile
    network ran in) and that the planes went block by block."""
    return {**restorer.provenance, "frames": "block by block"}


def restore_plane_task(source: Path, store: Path, index: tuple[int, ...], tile, overlap, rows: int,
                       name: str | None = None) -> dict:
    """One plane on a dask worker, with the restorer of the frame pipeline midnet/cluster/files.py's plugin built there."""
    from .files import worker_restorer

    plugin = worker_restorer(name)
    with plugin.lock:
        restore_plane(tile_network_of(plugin.restorer), open_lazy(source), index, store, tile, overlap, rows)
    return block_provenance(plugin.restorer)


def _planes_on_cluster(client, spec, source, store, todo, tile, overlap, rows, quiet) -> dict:
    from .files import _progress, ensure_plugin, failure

    name = ensure_plugin(client, spec)  # once per client: the files after this one reuse the workers' restorers
    n = len(todo)
    futures = client.map(restore_plane_task, [source] * n, [store] * n, todo, [tile] * n, [overlap] * n, [rows] * n,
                         name=name, pure=False)
    made = {}
    for future in _progress(futures, quiet):
        try:
            made = future.result()
        except Exception as exc:  # KilledWorker, or any error of a plane: the file's (the store keeps what was
            client.cancel(futures)  # done, a rerun resumes); its other planes are not worth a worker's time
            raise MidnetError(failure(source, exc)) from exc
        _remember(store, made)
    return made


def _signature(image: LazyImage, spec) -> dict:
    """What the partial store was made from: a run with anything else starts over rather than mix results."""
    settings = dataclasses.asdict(spec.settings)
    options = {k: (str(v) if v is not None else None) for k, v in sorted(settings.items()) if k != "infobar"}
    model = spec.settings.network
    if model and Path(str(model)).is_file():  # a weights file retrained in place is another model
        options["model_digest"] = hashlib.sha256(Path(str(model)).read_bytes()).hexdigest()
    return {"source": str(image.source.resolve()), "shape": list(image.array.shape), "dtype": str(image.array.dtype),
            "options": options, "infobar": str(spec.settings.infobar)}


def _prepare(store: Path, image: LazyImage, spec) -> None:
    """Reuse a partial store made by the same run, else start one: level 0 chunked one plane at a time."""
    signature = _signature(image, spec)
    run = store / RUN_FILE
    if _read_state(run).get("signature") == signature:
        return
    if store.exists():
        shutil.rmtree(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(store), mode="w", zarr_format=3)
    shape = image.array.shape
    group.create_array("0", shape=shape, chunks=(1,) * (len(shape) - 2) + (CHUNK, CHUNK), dtype=image.array.dtype,
                       fill_value=0)
    _write_state(run, {"signature": signature})


def _read_state(path: Path) -> dict:
    """A partial store's JSON record (the run file, a plane's progress); empty when missing or torn, so that
    what it described is started over rather than the input refused on every rerun."""
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # any other OS error is raised: a store is never wiped on a bad read
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: dict) -> None:
    """Replace a record whole: a kill leaves the old state or the new one, never half of one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def _remember(store: Path, made: dict) -> None:
    """Keep the restorer's provenance in the run file: a resumed run with no plane left still records it."""
    run = store / RUN_FILE
    state = _read_state(run)
    if state.get("made") != made:
        _write_state(run, {**state, "made": made})


def _finish(store: Path, image: LazyImage, final: Path, overwrite: bool, made: dict | None = None) -> None:
    """The pyramid and OME-Zarr metadata (ome-zarr's writer) and how it was made (the restorer's provenance,
    attribute ``midnet``; from the run file when every plane was done by an earlier run), then the store under
    its final name."""
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(str(store), mode="r+")
    levels = _pyramid(group, image.array.dtype)
    datasets = []
    for k in range(levels):
        factor = [1.0] * (len(image.scale) - 2) + [2.0**k, 2.0**k]
        datasets.append({"path": str(k), "coordinateTransformations": [
            {"type": "scale", "scale": [s * f for s, f in zip(image.scale, factor)]}]})
    write_multiscales_metadata(group, datasets, axes=image.axes, name=final.name[: -len(".ome.zarr")])
    run = store / RUN_FILE
    made = made or _read_state(run).get("made")
    if made:
        group.attrs["midnet"] = made
    shutil.rmtree(store / "midnet-progress", ignore_errors=True)
    (store / RUN_FILE).unlink(missing_ok=True)
    if final.exists() and overwrite:
        old = final.parent / f".{final.name}.midnet-old"
        os.replace(final, old)
        os.replace(store, final)
        shutil.rmtree(old, ignore_errors=True)
    elif final.exists():
        raise MidnetError(f"{final} was written meanwhile by another run; kept it, and the finished result in {store}")
    else:
        os.replace(store, final)


def _pyramid(group, dtype) -> int:
    """Levels 1.. as 2x2 means of the level above, each read back from the store (bounded memory)."""
    k = 0
    while True:
        above = da.from_zarr(group[str(k)])
        if min(above.shape[-2:]) // 2 < MIN_PYRAMID_SIDE:
            return k + 1
        nd = above.ndim
        down = da.coarsen(np.mean, above.astype(np.float32), {nd - 2: 2, nd - 1: 2}, trim_excess=True)
        if np.issubdtype(dtype, np.integer):
            down = down.round()
        down = down.astype(dtype)
        k += 1
        target = group.create_array(str(k), shape=down.shape, dtype=dtype, fill_value=0,
                                    chunks=(1,) * (nd - 2) + (CHUNK, CHUNK), overwrite=True)
        da.store(down.rechunk(target.chunks), target, lock=False)
