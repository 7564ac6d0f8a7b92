"""The restorer: one object that restores micrographs, built once per command.

:func:`make_restorer` is the one constructor every caller uses (the command line, eval,
compare, training's validation, :func:`deblur`). A :class:`Restorer` called on a gray
float32 (H, W) image on its file's [0, 1] scale returns the restored image on that
scale; :meth:`Restorer.deblur` takes a whole array of any dtype, layout and size and
gives the same dtype and shape back. The info bar is copied bit for bit and never fed
to the network; gray content stored as RGB is restored once; alpha is passed through;
large frames go through blended tiles with bounded memory, and the tile size halves
when the device runs out of memory (as CSBDeep's predict does).

The network sees every frame through midnet/images/intensity.py's percentile map, so the
result does not depend on the file's bit depth or the microscope's gain and offset.
The caller's network is never changed: the restorer runs its own inference copy.
"""

from __future__ import annotations

import copy
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..images import intensity
from .devices import pick_device
from ..errors import MidnetError
from .fast import inference_copy
from ..images.infobar import InfobarSpec, resolve_infobar
from ..models import RestorationNetwork
from ..images.io import check_finite, data_ceiling, data_grid, dtype_range, to_gray_float
from .runtime_info import midnet_version
from .settings import RestoreSettings
from .tiling import predict_tiled, predict_whole
from ..models.zoo import file_state, load_model

if TYPE_CHECKING:
    from .classical import ClassicalParams
    from .engine_choice import Choice

MIN_SIDE = 16  # smaller images carry no structure to restore
AUTO_WHOLE_PIXELS = 2_500_000  # frames up to this size run whole: exactly what evaluation measured
AUTO_TILE = 768  # larger frames go in tiles of this side: peak memory stays near 1 GiB whatever the frame
AUTO_OVERLAP = 128  # with shared statistics, tiles then stay within 1 grey level of the whole image
GRAY_TOLERANCE = 2 / 255  # channels closer than this (in full-scale units) count as one gray image

_TorchOOM = getattr(torch, "OutOfMemoryError", RuntimeError)  # torch < 2.5 raises a RuntimeError
ProgressCallback = Callable[[int, int], None]


class Restorer(ABC):
    """Restores gray [0, 1] images with one network or classical method (see the module docstring).

    Made by :func:`make_restorer` as a :class:`NetworkRestorer` or a :class:`ClassicalRestorer`, which
    hold ``settings`` (engine and precision settled: what runs) and ``on_tile``, the progress callback
    (``(done, total)`` after every tile), and say how a frame becomes its restoration (``_restore_gray``)
    and what an output file records about it (:attr:`provenance`).
    """

    settings: RestoreSettings
    on_tile: ProgressCallback | None

    @abstractmethod
    def _restore_gray(self, gray: np.ndarray) -> np.ndarray:
        """One gray [0, 1] frame restored, without the eight views."""

    @property
    @abstractmethod
    def provenance(self) -> dict:
        """How this restorer makes an image: what every output file records (midnet/images/io.py write_image)."""

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        """Restore one gray float image in [0, 1], shape (H, W): no info bar, no dtype handling (see :meth:`deblur`)."""
        if _one_value(gray):
            return gray.copy()
        if not self.settings.views:
            return self._restore_gray(gray)
        return self._eight_views(gray, spread=False)[0]

    def restore_with_spread(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean and the per-pixel standard deviation of the eight flips and rotations.

        Each of the eight views of the square is restored and turned back; their mean is
        the test-time-augmented result, their spread a per-pixel measure of how much the
        restoration depends on the orientation the network happened to see.
        """
        if _one_value(gray):
            return gray.copy(), np.zeros(gray.shape, np.float32)
        return self._eight_views(gray, spread=True)

    def _eight_views(self, gray: np.ndarray, spread: bool) -> tuple[np.ndarray, np.ndarray | None]:
        # Welford's running mean and sum of squared deviations, in float32: stable without
        # the cancellation of E[x^2] - E[x]^2, and no float64 copies of the frame
        mean = np.zeros(gray.shape, np.float32)
        squared = np.zeros(gray.shape, np.float32) if spread else None
        n = 0
        for k in range(4):
            for flip in (False, True):
                view = np.rot90(gray, k)
                out = self._restore_gray(np.ascontiguousarray(view[:, ::-1] if flip else view))
                out = np.rot90(out[:, ::-1] if flip else out, -k)
                n += 1
                delta = out - mean
                mean += delta / np.float32(n)
                if squared is not None:
                    squared += delta * (out - mean)
        return mean, (np.sqrt(squared / np.float32(n)) if squared is not None else None)

    def deblur(self, image: np.ndarray, infobar: InfobarSpec | None = "auto") -> np.ndarray:
        """Restore a micrograph: (H, W), (H, W, 1|2|3|4); integer or float pixels; same dtype and shape back.

        A stack is restored page by page: (N, H, W), told from one colour frame by its last axis
        being longer than 4 (no frame has more than 4 channels), and (N, H, W, C).
        """
        array = np.asarray(image)
        if array.ndim == 4:
            if array.shape[3] > 4:  # named once, with the whole stack's shape, before any page is restored
                raise MidnetError(f"unsupported image shape {array.shape}; a stack is (N, H, W) or (N, H, W, C) "
                                  "with C = 1, 2 (gray + alpha), 3 or 4")
            return np.stack([_deblur_array(self, page, infobar) for page in array])
        if array.ndim == 3 and array.shape[2] > 4:
            return np.stack([_deblur_array(self, page, infobar) for page in array])
        return _deblur_array(self, array, infobar)

    def deblur_with_spread(self, image: np.ndarray, infobar: InfobarSpec | None = "auto"
                           ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`deblur` averaged over the eight flips and rotations, and the per-pixel spread.

        The spread is a float32 (H, W) standard deviation in the image's own units (0 on
        the info bar; the largest over the colour channels of a true-colour image).
        """
        array = np.asarray(image)
        spread = np.zeros(array.shape[:2], np.float32)
        return _deblur_array(self, array, infobar, spread), spread

    def progress(self, done: int, total: int) -> None:
        if self.on_tile is not None:
            self.on_tile(done, total)


def _one_value(gray: np.ndarray) -> bool:
    """A frame of one grey value holds no structure to restore: whatever a restorer put there would be invented
    (the network's border and bias add up to 14 grey levels to a flat frame). A frame with any contrast at
    all, a smooth ramp included, is restored."""
    return gray.size > 0 and float(gray.min()) == float(gray.max())


@dataclass(eq=False)
class NetworkRestorer(Restorer):
    """A network's restorer: the inference copy, the module its tiles run through and what runs whole frames.

    ``tile_network`` is the inference copy at the settled precision (itself for fp32, else its bf16/fp16
    copy): what a block-by-block caller (midnet/cluster/large_images.py) must run to make what this restorer makes.
    ``whole_frames`` runs frames that fit one tile: ``tile_network``, or an engine (midnet/inference/engines.py)
    on the network's ONNX export. ``choice`` is what ``engine="auto"`` measured or read (the command
    line reports it), None when the engine was named.
    """

    settings: RestoreSettings
    label: str  # the model's name, file, or the module's class name
    network: nn.Module
    tile_network: nn.Module
    whole_frames: Callable[[torch.Tensor], torch.Tensor]
    choice: Choice | None = None
    on_tile: ProgressCallback | None = None

    def _restore_gray(self, gray: np.ndarray) -> np.ndarray:
        s = self.settings
        return _run_network(self.tile_network, self.whole_frames, gray, s.tile, s.overlap, self.progress)

    @functools.cached_property
    def weights_sha256(self) -> str:
        """The network's weights' SHA-256, computed on first use: hashing every tensor takes a while."""
        from .cache import weights_sha256

        return weights_sha256(self.network)

    @property
    def provenance(self) -> dict:
        """midnet's version, the model, the weights' SHA-256, the engine and precision that actually ran, the tile
        size and overlap, and TTA; for an engine, what tiled frames run on and the ONNX file's SHA-256."""
        s, runner = self.settings, self.whole_frames
        ran = getattr(runner, "precision", s.precision)  # an engine may have corrected it once loaded
        graph = getattr(runner, "graph_sha256", None)  # an engine's ONNX file, verified when it was loaded
        tiled = {"tiled_frames": f"torch {s.precision}"} if s.engine != "torch" else {}
        return {"midnet": midnet_version(), "method": self.label, "tta": s.views, "model": self.label,
                "weights_sha256": self.weights_sha256, "engine": s.engine, "precision": ran,
                "tile": "auto" if s.tile is None else s.tile, "overlap": s.overlap, **tiled,
                **({"graph_sha256": graph} if graph else {})}


@dataclass(eq=False)
class ClassicalRestorer(Restorer):
    """A classical deconvolution (midnet/inference/classical.py) with its calibrated parameters; runs in NumPy."""

    settings: RestoreSettings
    params: ClassicalParams
    calibration_source: str  # the calibration file, "given" (parameters passed in) or "built-in"
    on_tile: ProgressCallback | None = None

    def _restore_gray(self, gray: np.ndarray) -> np.ndarray:
        from .classical import restore

        return restore(gray, self.settings.method, self.params)

    @property
    def provenance(self) -> dict:
        """midnet's version, the method, TTA, where its parameters came from and the parameters."""
        return {"midnet": midnet_version(), "method": self.settings.method, "tta": self.settings.views,
                "calibration": self.calibration_source, "params": self.params.model_dump(mode="json")}


def make_restorer(settings: RestoreSettings = RestoreSettings(), on_tile: ProgressCallback | None = None) -> Restorer:
    """The one way to build a restorer: what ``settings`` ask for, a network or a classical method.

    Loads the model and settles engine and precision (:meth:`RestoreSettings.resolved`:
    ``engine="auto"`` measures which engine and precision run fastest here, once per machine and
    model, midnet/inference/engine_choice.py). ``engine="onnx"`` runs whole frames through ONNX Runtime on
    the network's cached ONNX file (midnet/inference/engines.py lists the engines); tiled frames stay on
    PyTorch, whose hooks carry the whole-frame statistics between tiles. ``on_tile(done, total)``
    reports progress. :attr:`Restorer.provenance` says what was chosen.
    """
    if settings.network is None:
        return _classical_restorer(settings, on_tile)
    return _network_restorer(settings, on_tile)


def _classical_restorer(settings: RestoreSettings, on_tile: ProgressCallback | None) -> ClassicalRestorer:
    from .classical import ClassicalParams, default_params

    calibration = settings.calibration
    params = calibration if isinstance(calibration, ClassicalParams) else (
        ClassicalParams.load(calibration) if calibration else default_params())
    source = str(calibration) if isinstance(calibration, (str, Path)) else "given" if calibration else "built-in"
    settled, _ = settings.resolved()
    return ClassicalRestorer(settled, params, source, on_tile)


def _network_restorer(settings: RestoreSettings, on_tile: ProgressCallback | None) -> NetworkRestorer:
    from .engines import make_engine
    from .precision import reduced_precision

    model, device = settings.model, settings.device
    if isinstance(model, nn.Module) and not isinstance(model, RestorationNetwork):
        raise MidnetError(f"a {type(model).__name__} declares no padder_size, in_chans and exposes_residual: "
                          "midnet restores with networks that do (midnet.models.RestorationNetwork)")
    if isinstance(model, nn.Module):
        net, label = inference_copy(model), type(model).__name__
        if device != "auto" and _device_of(net) != pick_device(device):  # "auto": where the caller keeps it
            net = (copy.deepcopy(net) if net is model else net).to(pick_device(device))  # never the caller's
    else:
        label = str(model)
        net = inference_copy(load_model(label, pick_device(device)))
    settled, choice = settings.resolved(net)
    tile_network = reduced_precision(net, settled.precision)
    whole_frames = tile_network if settled.engine == "torch" else make_engine(
        settled.engine, net, precision=settled.precision)
    return NetworkRestorer(settled, label, net, tile_network, whole_frames, choice, on_tile)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def _run_network(net: nn.Module, runner, gray: np.ndarray, tile: int | None, overlap: int,
                 on_tile: ProgressCallback) -> np.ndarray:
    """Normalise, run whole or tiled, map back: the network part of a restorer."""
    h, w = gray.shape
    size = tile if tile is not None else (None if h * w <= AUTO_WHOLE_PIXELS else AUTO_TILE)
    scale = intensity.measure(gray)
    chans = net.in_chans
    x = torch.from_numpy(scale.forward(gray))[None, None].to(_device_of(net))
    if chans > 1:
        x = x.expand(-1, chans, -1, -1).contiguous()
    if runner is not net and (size is None or (size >= h and size >= w)):
        y = predict_whole(runner, x, net.padder_size)
        on_tile(1, 1)
    else:
        y = _predict_retrying(net, x, size, overlap, on_tile)
    y = y[0, 0] if chans == 1 else y[0].mean(0)
    return scale.inverse(y.float().cpu().numpy())


def _predict_retrying(net: nn.Module, x: torch.Tensor, size: int | None, overlap: int,
                      on_tile: ProgressCallback) -> torch.Tensor:
    """predict_tiled, halving the tile size when the device runs out of memory (as CSBDeep does)."""
    h, w = x.shape[-2:]
    while True:
        try:
            return predict_tiled(net, x, tile=size, overlap=overlap, on_tile=on_tile)
        except (_TorchOOM, MemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            current = size or max(h, w)
            if current <= 64:  # predict_tiled shrinks the overlap with the tile
                raise MidnetError(f"out of memory even with {current}px tiles; use --device cpu or free memory") from exc
            size = max(64, current // 2)
            if x.device.type == "cuda":
                torch.cuda.empty_cache()


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (_TorchOOM, MemoryError)):
        return True
    return "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower()


# ---------------------------------------------------------------- whole arrays


def _file_scale(array: np.ndarray) -> tuple[float, float]:
    """(offset, span) mapping the array's values to [0, 1]: the dtype range, or min/max for floats."""
    if np.issubdtype(array.dtype, np.integer):
        return 0.0, dtype_range(array.dtype)
    lo, hi = float(array.min()), float(array.max())
    if 0.0 <= lo and hi <= 1.0:
        return 0.0, 1.0  # the usual float convention: keep it
    return lo, (hi - lo) or 1.0


def to_dtype(values: np.ndarray, dtype: np.dtype, offset: float, span: float, ceiling: float,
             grid: int = 1) -> np.ndarray:
    """File-scale [0, 1] values back in the file's dtype; integers rounded to multiples of ``grid`` (the data's
    step, :func:`~midnet.images.io.data_grid`) and clipped to 0..``ceiling`` (a multiple of it)."""
    # in place, in float32: an 8192x8192 frame must not grow float64 temporaries
    out = values.astype(np.float32, copy=True)
    out *= span
    out += offset
    if np.issubdtype(dtype, np.integer):
        if np.dtype(dtype).itemsize > 2:  # float32 cannot hold 2**31 - 1 or 2**32 - 1: clip in float64
            out = out.astype(np.float64)
        if grid > 1:  # on the data's own grid: 12-bit data shifted into 16 bits stays a multiple of 16
            out /= grid
            np.round(out, out=out)
            out *= grid
        else:
            np.round(out, out=out)
        np.clip(out, np.iinfo(dtype).min, ceiling, out=out)
        return out.astype(dtype)
    if offset == 0.0 and span == 1.0:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(dtype, copy=False)


def to_file_scale(values: np.ndarray, offset: float, span: float) -> np.ndarray:
    """File values mapped to [0, 1] by (offset, span) (see _file_scale), in float32: :func:`to_dtype` undoes it."""
    out = values.astype(np.float32, copy=True)
    out -= offset
    out /= span
    return out


def _gray_on_file_scale(colour: np.ndarray, offset: float, span: float) -> np.ndarray:
    """The channels' mean mapped to [0, 1] like the file (io.to_gray_float: one conversion in midnet)."""
    gray = to_gray_float(colour)  # on the dtype's scale: integer files are done, float files still need theirs
    return gray if np.issubdtype(colour.dtype, np.integer) else to_file_scale(gray, offset, span)


def _check_shape(array: np.ndarray) -> None:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise MidnetError(f"unsupported image shape {array.shape}; expected one frame: (H, W) or (H, W, C) with "
                          "C = 1, 2 (gray + alpha), 3 or 4 (restore a stack's pages one by one)")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise MidnetError(f"unsupported pixel type {array.dtype}; expected integer or float pixels")


def infobar_rows(frame: np.ndarray, infobar: InfobarSpec | None) -> int | None:
    """The rows of info bar :meth:`Restorer.deblur` finds at the bottom of ``frame`` (one frame, as a batch hands
    its pages): for a caller that resolves them once per frame and passes them to every step that reads the frame.

    None where ``deblur`` does not take ``frame`` as one frame it restores (a stack, a bad shape, NaN, an
    info bar taller than the frame): it then resolves the info bar itself, page by page, or says why not in
    its own words.
    """
    array = np.asarray(frame)
    if array.ndim == 3 and array.shape[2] == 1:  # as _deblur_array sees it
        array = array[..., 0]
    try:
        _check_shape(array)
        return resolve_infobar(infobar, array)
    except ValueError:  # MidnetError among them: the restoration's own checks come first and say it
        return None


def _deblur_array(restorer: Restorer, array: np.ndarray, infobar: InfobarSpec | None,
                  spread: np.ndarray | None = None) -> np.ndarray:
    """The restored array; with ``spread`` (a float32 (H, W) array), also the TTA spread in the file's units."""
    if array.ndim == 3 and array.shape[2] == 1:
        return _deblur_array(restorer, array[..., 0], infobar, spread)[..., None]
    _check_shape(array)
    if np.issubdtype(array.dtype, np.floating):
        check_finite(array)
    if array.dtype == np.float16:  # restored in float32; clipped so that nothing becomes inf in float16
        out = _deblur_array(restorer, array.astype(np.float32), infobar, spread)
        return np.clip(out, -65504.0, 65504.0).astype(np.float16)
    h, w = array.shape[:2]
    rows = resolve_infobar(infobar, array)
    if h - rows < MIN_SIDE or w < MIN_SIDE:
        raise MidnetError(f"image of {w}x{h - rows} pixels (info bar excluded) is too small; at least {MIN_SIDE}x{MIN_SIDE}")
    colour_channels = array.shape[2] if array.ndim == 3 else 1
    if colour_channels in (2, 4):  # gray+alpha, RGB+alpha: alpha passes through
        colour_channels -= 1
    body = array[: h - rows]
    colour = body if array.ndim == 2 else body[..., :colour_channels]
    offset, span = _file_scale(colour)
    grid = data_grid(colour)
    ceiling = data_ceiling(colour, grid) if np.issubdtype(array.dtype, np.integer) else 0.0
    out = array.copy()  # the info bar, alpha and any untouched channel stay bit for bit

    def restored(gray: np.ndarray, unit_scale: bool = False) -> np.ndarray:
        on_file_scale = gray if unit_scale else to_file_scale(gray, offset, span)
        if spread is None:
            return to_dtype(restorer(on_file_scale), array.dtype, offset, span, ceiling, grid)
        mean, deviation = restorer.restore_with_spread(on_file_scale)
        np.maximum(spread[: h - rows], deviation * np.float32(span), out=spread[: h - rows])
        return to_dtype(mean, array.dtype, offset, span, ceiling, grid)

    if array.ndim == 2:
        out[: h - rows] = restored(body)
    elif colour_channels > 1 and np.ptp(colour, axis=2).max() <= GRAY_TOLERANCE * span:
        value = restored(_gray_on_file_scale(colour, offset, span), unit_scale=True)  # gray stored as RGB: once
        for c in range(colour_channels):
            out[: h - rows, :, c] = value
    else:
        for c in range(colour_channels):  # true colour: each channel on its own, the spread their largest
            out[: h - rows, :, c] = restored(colour[..., c])
    return out


_restorer_cache: dict[tuple, Restorer] = {}


def deblur(image: np.ndarray, settings: RestoreSettings | None = None,
           on_tile: ProgressCallback | None = None, **fields) -> np.ndarray:
    """Restore a micrograph: (H, W), (H, W, 3) or (H, W, 4); uint8, uint16 or float.

    Returns an array of the same dtype and shape. ``fields`` are :class:`RestoreSettings`' (``model``, a
    preset name, a weights file or a network; ``infobar``, ``"auto"``, ``"none"`` or a number of bottom
    rows; ``engine``, ``precision``, ``tile``...), with its defaults, or replacing those of ``settings``.
    A restorer built from a name is kept for the next call with the same settings; to restore many
    images with one network module, build :func:`make_restorer` once.
    """
    settings = (settings or RestoreSettings()).replace(**fields)
    if settings.only_blurry:
        raise MidnetError("only_blurry selects the files worth restoring (midnet deblur --only-blurry, "
                          "midnet.pipeline); deblur restores the array it is given")
    if isinstance(settings.model, nn.Module) or settings.calibration is not None:
        restorer = make_restorer(settings)
    else:
        key = _cache_key(settings)
        if key not in _restorer_cache:
            _restorer_cache[key] = make_restorer(settings)
        restorer = _restorer_cache[key]
    restorer.on_tile = on_tile
    try:
        return restorer.deblur(image, settings.infobar)
    finally:
        restorer.on_tile = None


def _cache_key(settings: RestoreSettings) -> tuple:
    """What makes one kept restorer another: the settings it is built from (not the info bar: a restorer
    takes it per frame), the device they name here, and the weights file's state (retrained in place)."""
    built_from = settings.replace(infobar="auto", device=str(pick_device(settings.device)), tta=settings.views,
                                  uncertainty=False, blur_threshold=None)
    return built_from, file_state(settings.model)
