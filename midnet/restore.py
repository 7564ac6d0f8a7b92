"""``midnet.deblur``: restore one micrograph array, any dtype, layout and size.

The array comes back with the same dtype and shape. The info bar is copied bit for bit
and never fed to the network; gray content stored as RGB is restored once; alpha is
passed through; large frames go through blended tiles with bounded memory, and the
tile size halves when the device runs out of memory (as CSBDeep's predict does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

from .devices import pick_device
from .errors import MidnetError
from .infobar import InfobarSpec, resolve_infobar
from .io import dtype_range
from .fast import optimize_for_inference
from .tiling import predict_tiled, predict_whole

DEFAULT_MODEL = "midnet-sem"
Method = Literal["midnet", "wiener", "richardson-lucy", "unsharp"]
Engine = Literal["torch", "onnx"]
MIN_SIDE = 16  # smaller images carry no structure to restore
AUTO_WHOLE_PIXELS = 2_500_000  # frames up to this size run whole: exactly what evaluation measured
AUTO_TILE = 768  # larger frames go in tiles of this side: peak memory stays near 1 GiB whatever the frame
AUTO_OVERLAP = 128  # with shared statistics, tiles then differ from the whole image by < 1 gray level
GRAY_TOLERANCE = 2 / 255  # channels closer than this (in full-scale units) count as one gray image

_TorchOOM = getattr(torch, "OutOfMemoryError", RuntimeError)  # torch < 2.5 raises a RuntimeError
_model_cache: dict[tuple[str, str], nn.Module] = {}


def load_model(name_or_file: str = DEFAULT_MODEL, device: str | torch.device | None = None) -> nn.Module:
    """A ready network by preset name or weights file (cached per process)."""
    from .weights import load_model as _load

    device = pick_device(device)
    key = (str(name_or_file), str(device))
    if key not in _model_cache:
        _model_cache[key] = _load(name_or_file, device=device)
    return _model_cache[key]


def _scale(array: np.ndarray) -> tuple[float, float]:
    """(offset, span) mapping the array's values to [0, 1]: the dtype range, or min/max for floats."""
    if np.issubdtype(array.dtype, np.integer):
        return 0.0, dtype_range(array.dtype)
    finite = array[np.isfinite(array)]
    if finite.size != array.size:
        raise MidnetError("image holds NaN or infinite values; clean or re-export it")
    lo, hi = float(finite.min()), float(finite.max())
    if 0.0 <= lo and hi <= 1.0:
        return 0.0, 1.0  # the usual float convention: keep it
    return lo, (hi - lo) or 1.0


def _to_dtype(values: np.ndarray, dtype: np.dtype, offset: float, span: float) -> np.ndarray:
    # in place, in float32: an 8192x8192 frame must not grow float64 temporaries
    out = values.astype(np.float32, copy=True)
    out *= span
    out += offset
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        np.round(out, out=out)
        np.clip(out, info.min, info.max, out=out)
        return out.astype(dtype)
    if offset == 0.0 and span == 1.0:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(dtype, copy=False)


def _normalised(values: np.ndarray, offset: float, span: float) -> np.ndarray:
    out = values.astype(np.float32, copy=True)
    out -= offset
    out /= span
    return out


def make_restorer(
    model: str | nn.Module | None = DEFAULT_MODEL,
    method: Method = "midnet",
    tile: int | None = None,
    overlap: int = AUTO_OVERLAP,
    device: str | torch.device | None = None,
    calibration=None,
    on_tile: Callable[[int, int], None] | None = None,
    engine: Engine = "torch",
) -> Callable[[np.ndarray], np.ndarray]:
    """A function restoring a gray float32 (H, W) image in [0, 1].

    ``engine="onnx"`` runs whole frames through ONNX Runtime (midnet/engines.py: faster on
    a CPU once a frame size has been exported, ~5 s); tiled frames stay on PyTorch.
    """
    if method != "midnet":
        from .classical import ClassicalParams, default_params, restore

        params = calibration if isinstance(calibration, ClassicalParams) else (
            ClassicalParams.load(calibration) if calibration else default_params())
        return lambda gray: restore(gray, method, params)

    net = model if isinstance(model, nn.Module) else load_model(model or DEFAULT_MODEL, device)
    net.eval()
    if fast_path_ok(net) and not getattr(net, "_midnet_fast", False):
        net = optimize_for_inference(net)  # same function, fewer operations (midnet/fast.py)
    dev = next(net.parameters()).device
    chans = getattr(getattr(net, "config", None), "in_chans", 1)
    onnx = None
    if engine == "onnx":
        from .engines import OnnxEngine

        onnx = OnnxEngine(net)

    @torch.inference_mode()
    def run(gray: np.ndarray) -> np.ndarray:
        h, w = gray.shape
        size = tile if tile is not None else (None if h * w <= AUTO_WHOLE_PIXELS else AUTO_TILE)
        x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None].to(dev)
        if chans > 1:
            x = x.expand(-1, chans, -1, -1).contiguous()
        if onnx is not None and (size is None or (size >= h and size >= w)):
            y = predict_whole(onnx, x, int(getattr(net, "padder_size", 1)))
            if on_tile:
                on_tile(1, 1)
        else:
            y = _predict_retrying(net, x, size, overlap, on_tile)
        y = y[0, 0] if chans == 1 else y[0].mean(0)
        return y.float().cpu().numpy()

    return run


def _predict_retrying(net: nn.Module, x: torch.Tensor, size: int | None, overlap: int,
                      on_tile: Callable[[int, int], None] | None) -> torch.Tensor:
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


def fast_path_ok(net: nn.Module) -> bool:
    """Only the NAFNet family has the structure midnet/fast.py folds."""
    from .models import NAFNet

    return isinstance(net, NAFNet)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (_TorchOOM, MemoryError)):
        return True
    return "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower()


def deblur(
    image: np.ndarray,
    model: str | nn.Module = DEFAULT_MODEL,
    infobar: InfobarSpec | None = "auto",
    tile: int | None = None,
    device: str | torch.device | None = None,
    method: Method = "midnet",
    overlap: int = AUTO_OVERLAP,
    calibration=None,
    on_tile: Callable[[int, int], None] | None = None,
    restorer: Callable[[np.ndarray], np.ndarray] | None = None,
    engine: Engine = "torch",
) -> np.ndarray:
    """Restore a micrograph: (H, W), (H, W, 3) or (H, W, 4); uint8, uint16 or float.

    Returns an array of the same dtype and shape. ``model`` is a preset name, a weights
    file or a network; ``infobar`` is ``"auto"``, ``"none"`` or a number of bottom rows.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        return deblur(array[..., 0], model, infobar, tile, device, method, overlap, calibration, on_tile, restorer,
                      engine)[..., None]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise MidnetError(f"unsupported image shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise MidnetError(f"unsupported pixel type {array.dtype}; expected integer or float pixels")
    if array.dtype == np.float16:
        return deblur(array.astype(np.float32), model, infobar, tile, device, method, overlap, calibration,
                      on_tile, restorer, engine).astype(np.float16)
    h, w = array.shape[:2]
    rows = resolve_infobar(infobar, array)
    if h - rows < MIN_SIDE or w < MIN_SIDE:
        raise MidnetError(f"image of {w}x{h - rows} pixels (info bar excluded) is too small; at least {MIN_SIDE}x{MIN_SIDE}")
    restore = restorer or make_restorer(model, method, tile, overlap, device, calibration, on_tile, engine)

    colour_channels = array.shape[2] if array.ndim == 3 else 1
    if colour_channels in (2, 4):  # gray+alpha, RGB+alpha: alpha passes through
        colour_channels -= 1
    body = array[: h - rows]
    offset, span = _scale(body if colour_channels == 1 or array.ndim == 2 else body[..., :colour_channels])
    out = array.copy()  # the info bar, alpha and any untouched channel stay bit for bit

    if array.ndim == 2:
        out[: h - rows] = _to_dtype(restore(_normalised(body, offset, span)), array.dtype, offset, span)
        return out
    colour = body[..., :colour_channels]
    if colour_channels > 1 and np.ptp(colour, axis=2).max() <= GRAY_TOLERANCE * span:
        gray = colour.astype(np.float32).mean(axis=2)  # gray content stored as RGB: restore once
        value = _to_dtype(restore(_normalised(gray, offset, span)), array.dtype, offset, span)
        for c in range(colour_channels):
            out[: h - rows, :, c] = value
        return out
    for c in range(colour_channels):  # true colour: each channel on its own
        out[: h - rows, :, c] = _to_dtype(restore(_normalised(colour[..., c], offset, span)), array.dtype, offset, span)
    return out
