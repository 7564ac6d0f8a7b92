"""Exported ONNX and TorchScript files take a micrograph's own values and return `midnet deblur`'s restoration.

The reference is the restorer with the torch engine in fp32 on the whole frame (what
`midnet deblur --engine torch --precision fp32 --infobar none` writes); a host rounds and
clips the file's float output as deblur does. Bounds (issue 37): 1 grey level at 8 bits,
2^(b-8) at b bits. Measured here: at most 1 at every bit depth, on < 1.3 % of the pixels
(16-bit), because the two computations round in float32 in different orders and a value
within ~1e-6 of a .5 rounds the other way; float frames (x1000 + 5000) at most 0.0035,
a few float32 steps (0.0005 near 6000).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.images import intensity
from midnet.export.intensity_graph import RawInRawOut, stats_model
from midnet.inference.restore import make_restorer

from ..conftest import smooth_image

WHOLE = 1 << 14  # a tile larger than any frame here: the reference runs whole frames, as deblur does under 2.5 MP
KINDS = ("uint8", "12-bit", "16-bit", "float")
CEILING = {"uint8": 255, "12-bit": 4095, "16-bit": 65535}
FLOAT_BOUND = 0.01  # measured <= 0.0035 on values near 6000 (float32 steps 0.0005): see the module docstring


def small_net() -> torch.nn.Module:
    """A U-Net of stride 16 (so padding is exercised) with one block per level: fast, and not the identity.

    Its convolutions pad by reflection (UNetConfig.padding), so every runtime here shows that option survives
    the export; the shipped model's zero padding goes through the same runtimes in test_export and test_engines.
    """
    torch.manual_seed(0)
    net = midnet.create_model("midnet-s", width=8, enc_blk_nums=(1, 1, 1, 1), dec_blk_nums=(1, 1, 1, 1),
                              padding="reflect").eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


def micrograph(kind: str, h: int, w: int, seed: int = 3) -> np.ndarray:
    """A smooth frame with noise, stored as ``kind``: integers at their bit depth, float scaled x1000 + 5000."""
    unit = np.clip(smooth_image(h, w, seed) + np.random.default_rng(seed).normal(0, 0.02, (h, w)), 0, 1)
    if kind == "float":
        return (unit * 1000 + 5000).astype(np.float32)  # far from [0, 1]: the graph must measure its own range
    return np.round(unit * CEILING[kind]).astype(np.uint8 if kind == "uint8" else np.uint16)


def assert_like_deblur(out: np.ndarray, expected: np.ndarray, kind: str) -> None:
    """``out`` (the file's float output) rounded and clipped as deblur does, against deblur's array."""
    if kind == "float":
        assert np.abs(out - expected).max() <= FLOAT_BOUND, kind
        return
    got = np.clip(np.round(out), 0, CEILING[kind]).astype(np.int64)
    assert np.abs(got - expected.astype(np.int64)).max() <= 1, kind


# ------------------------------------------------------------------ the measurement alone


def frames_for_stats(sizes):
    rng = np.random.default_rng(0)
    for h, w in sizes:
        yield (rng.gamma(2.0, 1000.0, size=(h, w)) + 5000).astype(np.float32)
    yield np.full((20, 30), 7.0, np.float32)  # flat: shifted only
    almost = np.full((20, 30), 7.0, np.float32)
    almost[0, 0] = 8  # no spread between the percentiles: the span is the full range
    yield almost


# odd sizes, and frames at and just above the subsample's first stride boundary (2**22 pixels: stride 2)
FAST_SIZES = ((5, 7), (300, 517), (2048, 2048), (2048, 2049))


@pytest.mark.parametrize("sizes", [pytest.param(FAST_SIZES, id="fast"), pytest.param(
    ((2048, 8192), (2049, 8192)), id="second-boundary", marks=pytest.mark.slow)])  # 4 * 2**22: stride 2, then 3
def test_the_graphs_measure_the_percentiles_exactly_as_midnet_intensity_does(tmp_path, sizes):
    import onnx
    import onnxruntime as ort
    import openvino as ov

    path = tmp_path / "stats.onnx"
    onnx.save(stats_model(), str(path))
    by_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    by_openvino = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    script = torch.jit.script(RawInRawOut(torch.nn.Identity(), 16))
    for x in frames_for_stats(sizes):
        expected = intensity.measure(x)
        batch = x[None, None]
        results = {"onnxruntime": by_ort.run(None, {"x": batch}),
                   "torchscript": [t.numpy() for t in script.measure(torch.from_numpy(batch))]}
        results["openvino"] = list(by_openvino(batch).values())
        for name, (low, span) in results.items():
            # measured <= 2e-4 at values near 5000-13000: float32 steps (0.001 near 8192) in another order
            assert abs(float(low.ravel()[0]) - expected.low) <= 1e-7 * max(abs(expected.low), 1) * 16, (name, x.shape)
            assert abs(float(span.ravel()[0]) - expected.span) <= 1e-7 * (abs(expected.low) + expected.span) * 16, \
                (name, x.shape)


def test_each_frame_of_a_batch_is_measured_on_its_own():
    import onnxruntime as ort

    a, b = micrograph("16-bit", 40, 50, 1), micrograph("float", 40, 50, 2)
    batch = np.stack([a, b]).astype(np.float32)[:, None]
    low, span = ort.InferenceSession(stats_model().SerializeToString()).run(None, {"x": batch})
    for i, frame in enumerate((a, b)):
        expected = intensity.measure(frame.astype(np.float32))
        assert low.ravel()[i] == pytest.approx(expected.low, rel=1e-6)
        assert span.ravel()[i] == pytest.approx(expected.span, rel=1e-6)


# ------------------------------------------------------------------ whole files against midnet deblur


@pytest.fixture(scope="module")
def net():
    return small_net()


@pytest.fixture(scope="module")
def reference(net):
    """deblur's arrays, made once per (kind, size) for every runtime's test."""
    restorer, made = make_restorer(RestoreSettings.exact(model=net, tile=WHOLE)), {}

    def get(kind: str, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        if (kind, h, w) not in made:
            image = micrograph(kind, h, w)
            made[kind, h, w] = image, restorer.deblur(image, infobar="none")
        return made[kind, h, w]

    return get


SMALL_SIZES = ((45, 71), (160, 96))  # odd (padded inside the file), and a multiple of 16


def test_torchscript_file_takes_raw_values_of_every_kind_and_size(net, reference, tmp_path):
    loaded = torch.jit.load(str(midnet.export_model(net, tmp_path / "net.pt", format="torchscript")))
    for kind in KINDS:
        for h, w in SMALL_SIZES:
            image, expected = reference(kind, h, w)
            with torch.inference_mode():
                out = loaded(torch.from_numpy(image.astype(np.float32))[None, None])[0, 0].numpy()
            assert_like_deblur(out, expected, kind)
    # a batch of two frames on different scales: each is mapped with its own percentiles
    (a, ref_a), (b, ref_b) = reference("uint8", 45, 71), reference("float", 45, 71)
    with torch.inference_mode():
        out = loaded(torch.from_numpy(np.stack([a, b]).astype(np.float32))[:, None])[:, 0].numpy()
    assert_like_deblur(out[0], ref_a, "uint8")
    assert_like_deblur(out[1], ref_b, "float")


@pytest.fixture(scope="module")
def onnx_file(net, tmp_path_factory):
    return midnet.export_model(net, tmp_path_factory.mktemp("raw") / "net.onnx", format="onnx")


@pytest.mark.slow  # the ONNX export of the network: 20-70 s on two busy cores
def test_onnx_file_takes_raw_values_through_onnxruntime_and_openvino(onnx_file, reference):
    import onnx
    import onnxruntime as ort
    import openvino as ov

    meta = {p.key: p.value for p in onnx.load(str(onnx_file), load_external_data=False).metadata_props}
    assert meta["midnet.units"] == "raw" and meta["midnet.size_rule"].startswith("any H and W")
    runtimes = {"onnxruntime": ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run,
                "openvino": ov.Core().compile_model(str(onnx_file), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})}
    for kind in KINDS:
        for h, w in SMALL_SIZES:
            image, expected = reference(kind, h, w)
            x = image.astype(np.float32)[None, None]
            for name, run in runtimes.items():
                out = run(None, {"x": x})[0] if name == "onnxruntime" else run(x)[0]
                assert out.shape == x.shape, name
                assert_like_deblur(out[0, 0], expected, kind)


@pytest.mark.slow  # a frame above 2**22 pixels, three network runs: ~1-2 min on two cores (7 min beside a training run)
def test_a_frame_above_four_megapixels_is_subsampled_in_the_graph_as_midnet_does(onnx_file, net, reference, tmp_path):
    import onnxruntime as ort

    h, w = 2049, 2050  # > 2**22 pixels: the percentiles come from every second row and column
    assert intensity.sample_step(h * w) == 2
    image, expected = reference("16-bit", h, w)  # raw values far from [0, 1]; float frames: the small sizes
    x = image.astype(np.float32)[None, None]
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert_like_deblur(session.run(None, {"x": x})[0][0, 0], expected, "16-bit")
    loaded = torch.jit.load(str(midnet.export_model(net, tmp_path / "net.pt", format="torchscript")))
    with torch.inference_mode():
        assert_like_deblur(loaded(torch.from_numpy(x))[0, 0].numpy(), expected, "16-bit")
