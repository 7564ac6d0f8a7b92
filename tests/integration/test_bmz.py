"""The BMZ package of midnet-sem as the zoo's own tools see it: bioimageio.core's test and prediction.

Offline: every HTTP request bioimageio.spec might make (it checks citation URLs) goes to
a closed local port, as in CI without network; the package needs none.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("bioimageio.core")
pytest.importorskip("onnxruntime")

import midnet  # noqa: E402
from midnet.inference.settings import EXACT  # noqa: E402
from midnet.models.weights import read_weights  # noqa: E402
from midnet.models.zoo import load_model, shipped_weights_path  # noqa: E402

pytestmark = pytest.mark.slow
BODY_ROWS = 960  # the shared frames: 1280x960 micrograph above a 64-row info bar (their README)


@pytest.fixture(scope="module")
def offline():
    with pytest.MonkeyPatch.context() as mp:
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            mp.setenv(var, "http://127.0.0.1:9")  # the discard port: nothing listens, requests fail at once
        for var in ("NO_PROXY", "no_proxy"):
            mp.delenv(var, raising=False)
        yield


@pytest.fixture(scope="module")
def package(tmp_path_factory, offline):
    from midnet.export.bmz import export_bmz

    return export_bmz("midnet-sem", tmp_path_factory.mktemp("bmz") / "midnet-sem.zip")


def test_bioimageio_test_passes_for_every_weight_format(package):
    from bioimageio.core import test_model

    summary = test_model(package)
    assert summary.status == "passed", summary.format()
    tested = {d.name for d in summary.details if d.status == "passed"}
    for fmt in ("onnx", "torchscript"):
        assert f"Reproduce test outputs from test inputs ({fmt})" in tested, sorted(tested)


def test_package_loads_in_midnet_as_the_shipped_weights(package):
    with shipped_weights_path("midnet-sem") as shipped:
        shipped_state = read_weights(shipped)[0]
    state = load_model(package).state_dict()
    assert all(np.array_equal(state[k].numpy(), v.numpy()) for k, v in shipped_state.items())


@pytest.fixture(scope="module")
def frame():
    from ..conftest import SEM_PAIRS

    if not (SEM_PAIRS / "blur").is_dir():
        pytest.skip(f"real SEM pairs not found at {SEM_PAIRS}")
    return np.asarray(Image.open(SEM_PAIRS / "blur" / "3-1.png"))[..., 0]


def sixteen_bit(frame: np.ndarray) -> np.ndarray:
    """The 8-bit micrograph widened to 16 bits with sub-8-bit detail, so that its values are not just 257 k."""
    return (frame.astype(np.uint16) * 257 + np.random.default_rng(0).integers(0, 257, frame.shape)).astype(np.uint16)


@pytest.mark.parametrize("weight_format", ["onnx", "torchscript"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bioimageio_prediction_matches_midnet_deblur(package, frame, weight_format, bits):
    from bioimageio.core import create_prediction_pipeline, predict
    from bioimageio.spec import load_description

    image = frame if bits == 8 else sixteen_bit(frame)
    expected = midnet.deblur(image, infobar=image.shape[0] - BODY_ROWS, **EXACT)[:BODY_ROWS].astype(np.int64)
    body = image[:BODY_ROWS]  # the host crops the info bar, as the card says, and gives the file's own values
    pipeline = create_prediction_pipeline(load_description(package), weight_format=weight_format)
    out = predict(model=pipeline, inputs={"input": body[None, None]})  # whole frame: no blocksize_parameter
    restored = np.asarray(out.members["output"].data)[0, 0]  # grey levels: nothing to map back
    got = np.clip(np.round(restored), 0, (1 << bits) - 1).astype(np.int64)
    # measured: at most 1 grey level at 8 and at 16 bits (the bound is 2**(bits - 8)): float32 rounding in
    # another order puts a value within ~1e-6 of a .5 on the other side
    assert np.abs(got - expected).max() <= 1
    assert np.abs(expected - body.astype(np.int64)).max() > 10 << (bits - 8)  # restoring changed the frame


def test_package_declares_grey_levels_and_whole_frames(package):
    import io

    from bioimageio.spec import load_description

    descr = load_description(package)
    assert [p.id for p in descr.inputs[0].preprocessing] == ["ensure_dtype"]  # no scale_range: the weights map
    assert [p.id for p in descr.outputs[0].postprocessing] in ([], ["ensure_dtype"])
    assert "grey levels" in descr.inputs[0].description and "grey levels" in descr.outputs[0].description
    advice = descr.config.model_extra["midnet"]
    assert advice["recommended_tile"] == "whole frame" and advice["recommended_halo"] == 0
    test_input = np.load(io.BytesIO(descr.inputs[0].test_tensor.get_reader().read()))
    # a real micrograph crop in its own 8-bit grey levels, not normalised values
    assert test_input.max() > 100 and np.array_equal(test_input, np.round(test_input))
