"""midnet.deblur, the API: every dtype and layout in, the same dtype and shape out.

The info bar is copied bit for bit and never reaches the network; gray content stored
as RGB is restored once; alpha passes through; out-of-memory errors shrink the tiles.
A small MIDNet (width 8) with perturbed beta/gamma stands in for the shipped network,
so the output differs from the input.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

import midnet
from midnet.inference.settings import EXACT, RestoreSettings
from midnet.errors import MidnetError
from midnet.images.infobar import detect_infobar

from ..conftest import smooth_image

BAR = 16


def tiny_net() -> nn.Module:
    net = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.1)
    return net.eval()


@pytest.fixture
def net() -> nn.Module:
    return tiny_net()


class SharedLog(list):
    """A list that the restorer's inference copy of a Recorder shares with the original."""

    def __deepcopy__(self, memo):
        return self


class Recorder(nn.Module):
    """Wraps a network: records each input shape; raises ``error()`` for inputs above ``limit`` pixels.

    The restorer runs a copy of the caller's network (it never changes the caller's), so
    the log is shared by the copy and the original.
    """

    def __init__(self, inner: nn.Module, limit: int | None = None, error=None):
        super().__init__()
        self.inner = inner
        self.padder_size = 1  # as seen from outside: the inner network pads each input it is given itself
        self.in_chans, self.exposes_residual = inner.in_chans, False
        self.shapes: list[tuple[int, ...]] = SharedLog()
        self.limit, self.error = limit, error

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        if self.limit is not None and x.shape[-2] * x.shape[-1] > self.limit:
            raise self.error()
        return self.inner(x)


def _as(img01: np.ndarray, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return np.round(img01 * np.iinfo(dtype).max).astype(dtype)
    return img01.astype(dtype)


def gray(h: int = 64, w: int = 64, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    return _as(smooth_image(h, w, seed=seed), dtype)


def with_bar(h: int = 96, w: int = 128, bar: int = BAR, dtype=np.uint8) -> np.ndarray:
    """A frame whose bottom ``bar`` rows are a black band with white text and a scale bar."""
    full = np.zeros((h, w), np.float32)
    full[: h - bar] = smooth_image(h - bar, w, seed=1)
    full[h - bar + 4 : h - bar + 10, 8:40] = 1.0
    full[h - bar + 12, 60:110] = 1.0
    return _as(full, dtype)


# ---------------------------------------------------------------- dtypes and value ranges


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_dtype_and_shape_are_kept_and_pixels_change(net, dtype):
    a = gray(dtype=dtype)
    before = a.copy()
    out = midnet.deblur(a, model=net, infobar="none", **EXACT)
    assert out.dtype == a.dtype and out.shape == a.shape
    assert not np.array_equal(out, a)
    np.testing.assert_array_equal(a, before)  # the caller's array is never modified


def test_uint16_uses_the_full_16_bit_range(net):
    a = gray(dtype=np.uint16)
    out = midnet.deblur(a, model=net, infobar="none", **EXACT)
    assert out.max() > 255  # not squeezed into 8 bits
    # the same picture in 8 bits restores to about the same values (scaled by 257)
    out8 = midnet.deblur(gray(dtype=np.uint8), model=net, infobar="none", **EXACT)
    assert np.abs(out.astype(np.float64) / 257 - out8).mean() < 2


def test_float_in_unit_range_stays_in_unit_range(net):
    out = midnet.deblur(gray(dtype=np.float32), model=net, infobar="none", **EXACT)
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_outside_unit_range_keeps_its_range(net, dtype):
    a = (smooth_image(64, 64) * 3900 + 100).astype(dtype)  # e.g. counts from a detector
    lo, hi = float(a.min()), float(a.max())
    out = midnet.deblur(a, model=net, infobar="none", **EXACT)
    assert out.dtype == dtype and out.shape == a.shape
    assert np.isfinite(out).all()
    span = hi - lo
    assert lo - 0.5 * span <= out.min() and out.max() <= hi + 0.5 * span
    assert out.max() > 100  # not clipped to [0, 1]
    assert not np.allclose(out, a)
    # the same as restoring the image mapped to [0, 1] and mapping the result back
    unit = midnet.deblur(((a - lo) / span).astype(np.float32), model=net, infobar="none", **EXACT)
    inside = (unit > 0) & (unit < 1)  # the [0, 1] convention clips; the wide range does not
    assert inside.mean() > 0.9
    np.testing.assert_allclose(out[inside], unit[inside] * span + lo, rtol=1e-4, atol=1e-3 * span)


def test_float16_is_kept(net):
    a = gray(dtype=np.float16)
    out = midnet.deblur(a, model=net, infobar="none", **EXACT)
    assert out.dtype == np.float16 and out.shape == a.shape


# ---------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", ["gray", "hw1", "rgb", "rgba"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_layout_is_kept(net, layout, dtype):
    g = gray(48, 56, dtype=dtype)
    a = {"gray": g, "hw1": g[..., None], "rgb": np.dstack([g, g, g]),
         "rgba": np.dstack([g, g, g, np.full_like(g, g.max())])}[layout]
    out = midnet.deblur(a, model=net, infobar="none", **EXACT)
    assert out.shape == a.shape and out.dtype == a.dtype
    assert not np.array_equal(out, a)


@pytest.mark.parametrize("spread", [0, 1])
def test_rgb_with_equal_channels_is_restored_once_and_stays_gray(net, spread):
    g = gray(64, 64)
    rgb = np.dstack([g, g, g]).astype(np.int16)
    if spread:  # channels a level apart, like the shared micrographs
        rgb[::2, ::3, 1] += 1
        rgb = np.clip(rgb, 0, 255)
    rgb = rgb.astype(np.uint8)
    rec = Recorder(net)
    out = midnet.deblur(rgb, model=rec, infobar="none", **EXACT)
    assert len(rec.shapes) == 1 and rec.shapes[0][-2:] == (64, 64)
    assert out.shape == rgb.shape
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    if not spread:  # exactly the gray image's restoration
        np.testing.assert_array_equal(out[..., 0], midnet.deblur(g, model=net, infobar="none", **EXACT))


def test_true_colour_rgb_is_restored_per_channel(net):
    r, g, b = gray(seed=1), gray(seed=2)[::-1], gray(seed=3)[:, ::-1]
    rgb = np.dstack([r, g, b])
    rec = Recorder(net)
    out = midnet.deblur(rgb, model=rec, infobar="none", **EXACT)
    assert len(rec.shapes) == 3
    for c, channel in enumerate((r, g, b)):
        np.testing.assert_array_equal(out[..., c], midnet.deblur(channel, model=net, infobar="none", **EXACT))


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_passes_through_unchanged(net, colour, dtype):
    g = gray(64, 64, dtype=dtype)
    rgb = np.dstack([g, g[::-1], g[:, ::-1]]) if colour else np.dstack([g, g, g])
    alpha = np.random.default_rng(7).integers(0, np.iinfo(dtype).max, size=g.shape, dtype=dtype)
    rgba = np.dstack([rgb, alpha])
    rec = Recorder(net)
    out = midnet.deblur(rgba, model=rec, infobar="none", **EXACT)
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert len(rec.shapes) == (3 if colour else 1)  # alpha never goes to the network
    assert not np.array_equal(out[..., :3], rgb)


# ---------------------------------------------------------------- the info bar


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("spec", ["auto", BAR])
def test_info_bar_is_copied_bit_for_bit_and_never_fed_to_the_network(net, dtype, spec):
    a = with_bar(dtype=dtype)
    assert detect_infobar(a) == BAR
    rec = Recorder(net)
    out = midnet.deblur(a, model=rec, infobar=spec, **EXACT)
    np.testing.assert_array_equal(out[-BAR:], a[-BAR:])
    assert all(shape[-2] == a.shape[0] - BAR for shape in rec.shapes)  # the network saw the body alone
    changed_rows = (out[:-BAR] != a[:-BAR]).any(axis=1)
    assert changed_rows.mean() > 0.95


def test_info_bar_of_rgb_frame(net):
    g = with_bar()
    rgb = np.dstack([g, g, g])
    rgb[-BAR + 4 : -BAR + 10, 8:40, 0] = 200  # coloured text in the bar
    out = midnet.deblur(rgb, model=net, infobar="auto", **EXACT)
    np.testing.assert_array_equal(out[-BAR:], rgb[-BAR:])
    assert (out[:-BAR] != rgb[:-BAR]).any(axis=(1, 2)).mean() > 0.95


def test_frame_without_bar_is_restored_to_the_last_row(net):
    a = gray(96, 128, seed=5)
    assert detect_infobar(a) == 0
    rec = Recorder(net)
    out = midnet.deblur(a, model=rec, infobar="auto", **EXACT)
    assert rec.shapes[0][-2:] == a.shape
    assert (out != a).any(axis=1).mean() > 0.95
    assert (out[-BAR:] != a[-BAR:]).any()


def test_infobar_none_feeds_the_whole_frame(net):
    a = with_bar()
    rec = Recorder(net)
    midnet.deblur(a, model=rec, infobar="none", **EXACT)
    assert rec.shapes[0][-2:] == a.shape


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("shape", [(8, 8), (15, 64), (64, 15), (8, 8, 3)])
def test_too_small_image_is_a_midnet_error(net, shape):
    a = np.random.default_rng(0).integers(0, 255, size=shape, dtype=np.uint8)
    with pytest.raises(MidnetError, match="too small"):
        midnet.deblur(a, model=net, infobar="none", **EXACT)


def test_body_too_small_after_the_info_bar_is_a_midnet_error(net):
    with pytest.raises(MidnetError, match="too small"):
        midnet.deblur(gray(64, 64), model=net, infobar=56, **EXACT)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_float_is_a_midnet_error(net, bad):
    a = gray(dtype=np.float32)
    a[10, 20] = bad
    with pytest.raises(MidnetError, match="NaN or infinite"):
        midnet.deblur(a, model=net, infobar="none", **EXACT)


def test_unsupported_shape_and_dtype_are_midnet_errors(net):
    # (4, 32, 32, 3) is a stack of RGB pages, (32, 32, 7, 2) one of 32 x 7 gray + alpha pages (too small)
    for shape in ((2, 4, 32, 32, 3), (32,), (3, 40, 40, 5)):  # the last named whole, not by its first page
        with pytest.raises(MidnetError, match=re.escape(f"unsupported image shape {shape}")):
            midnet.deblur(np.zeros(shape, np.uint8), model=net, **EXACT)
    with pytest.raises(MidnetError, match="too small"):
        midnet.deblur(np.zeros((32, 32, 7, 2), np.uint8), model=net, **EXACT)
    with pytest.raises(MidnetError, match="bool"):
        midnet.deblur(np.zeros((32, 32), bool), model=net, **EXACT)


# ---------------------------------------------------------------- models, tiles, memory


def test_model_may_be_a_weights_file(net, tmp_path):
    path = midnet.save_model(net, tmp_path / "tiny.safetensors")
    a = gray()
    np.testing.assert_array_equal(midnet.deblur(a, model=str(path), device="cpu", infobar="none", **EXACT),
                                  midnet.deblur(a, model=net, infobar="none", **EXACT))


def test_wiener_needs_no_model():
    a = gray(64, 64)
    out = midnet.deblur(a, method="wiener", infobar="none")
    assert out.dtype == a.dtype and out.shape == a.shape and not np.array_equal(out, a)


def test_tiles_are_used_for_an_image_larger_than_the_tile_and_report_progress(net):
    a = gray(160, 144)
    rec = Recorder(net)
    progress: list[tuple[int, int]] = []
    out = midnet.deblur(a, model=rec, infobar="none", tile=64, overlap=16, on_tile=lambda d, t: progress.append((d, t)), **EXACT)
    assert out.shape == a.shape and out.dtype == a.dtype
    total = progress[-1][1]
    assert total > 1 and progress == [(i, total) for i in range(1, total + 1)]
    assert len(rec.shapes) == total
    assert all(s[-2] <= 64 and s[-1] <= 64 for s in rec.shapes)
    # blended tiles stay close to the whole-image result
    whole = midnet.deblur(a, model=net, infobar="none", **EXACT)
    assert np.abs(out.astype(float) - whole).mean() < 8


def test_whole_image_reports_one_tile(net):
    progress = []
    midnet.deblur(gray(64, 64), model=net, infobar="none", on_tile=lambda d, t: progress.append((d, t)), **EXACT)
    assert progress == [(1, 1)]


def _oom_errors():
    errors = [pytest.param(lambda: RuntimeError("CUDA error: out of memory"), id="RuntimeError")]
    if hasattr(torch, "OutOfMemoryError"):
        errors.append(pytest.param(lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   id="OutOfMemoryError"))
    return errors


@pytest.mark.parametrize("error", _oom_errors())
def test_out_of_memory_halves_the_tile_and_finishes(net, error):
    a = gray(160, 160)
    rec = Recorder(net, limit=100 * 100, error=error)
    progress = []
    out = midnet.deblur(a, model=rec, infobar="none", on_tile=lambda d, t: progress.append((d, t)), **EXACT)
    assert out.shape == a.shape and out.dtype == a.dtype and not np.array_equal(out, a)
    assert rec.shapes[0][-2:] == (160, 160)  # tried whole first
    assert all(s[-2] * s[-1] <= 100 * 100 for s in rec.shapes[1:])  # then smaller tiles
    assert len(rec.shapes) > 2 and progress[-1][0] == progress[-1][1]


def test_out_of_memory_with_explicit_tile_halves_down_to_64(net):
    a = gray(160, 160)
    rec = Recorder(net, limit=100 * 100, error=lambda: RuntimeError("CUDA error: out of memory"))
    out = midnet.deblur(a, model=rec, infobar="none", tile=128, **EXACT)
    assert out.shape == a.shape


def test_other_runtime_errors_are_not_retried(net):
    rec = Recorder(net, limit=0, error=lambda: RuntimeError("expected 4D input"))
    with pytest.raises(RuntimeError, match="expected 4D input"):
        midnet.deblur(gray(160, 160), model=rec, infobar="none", **EXACT)
    assert len(rec.shapes) == 1


def test_out_of_memory_at_the_smallest_tile_is_a_midnet_error(net):
    rec = Recorder(net, limit=0, error=lambda: RuntimeError("CUDA error: out of memory"))
    with pytest.raises(MidnetError, match="out of memory"):
        midnet.deblur(gray(160, 160), model=rec, infobar="none", **EXACT)


def test_a_stack_is_restored_page_by_page():
    net = midnet.create_model("midnet-s", width=8)
    restorer = midnet.make_restorer(RestoreSettings.exact(model=net))
    pages = (np.random.default_rng(0).random((5, 40, 48)) * 255).astype(np.uint8)
    out = restorer.deblur(pages, "none")
    assert out.shape == pages.shape and out.dtype == pages.dtype
    np.testing.assert_array_equal(out[3], restorer.deblur(pages[3], "none"))


def test_tta_mean_and_spread_are_those_of_the_eight_views():
    net = midnet.create_model("midnet-s", width=8)
    restorer = midnet.make_restorer(RestoreSettings.exact(model=net))
    gray = np.random.default_rng(1).random((40, 56)).astype(np.float32)
    views = []
    for k in range(4):
        for flip in (False, True):
            v = np.rot90(gray, k)
            out = restorer(np.ascontiguousarray(v[:, ::-1] if flip else v))
            views.append(np.rot90(out[:, ::-1] if flip else out, -k))
    mean, spread = restorer.restore_with_spread(gray)
    # float32 running sums over 8 values below 1: measured 8e-8 (mean) and 4e-8 (spread) off the
    # float64 reference, one or two float32 ulps; 1e-6 leaves room for other summation orders
    np.testing.assert_allclose(mean, np.mean(views, axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(spread, np.std(views, axis=0), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(midnet.make_restorer(RestoreSettings.exact(model=net, tta=True))(gray), mean)
