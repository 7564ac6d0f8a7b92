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
from midnet import intensity  # noqa: E402
from midnet.weights import read_weights  # noqa: E402
from midnet.zoo import load_model, shipped_weights_path  # noqa: E402

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
def frame_and_deblurred():
    from ..conftest import SEM_PAIRS

    if not (SEM_PAIRS / "blur").is_dir():
        pytest.skip(f"real SEM pairs not found at {SEM_PAIRS}")
    frame = np.asarray(Image.open(SEM_PAIRS / "blur" / "3-1.png"))[..., 0]
    return frame, midnet.deblur(frame)[:BODY_ROWS].astype(np.int32)


@pytest.mark.parametrize("weight_format", ["onnx", "torchscript"])
def test_bioimageio_prediction_matches_midnet_deblur(package, frame_and_deblurred, weight_format):
    from bioimageio.core import create_prediction_pipeline, predict
    from bioimageio.spec import load_description

    frame, expected = frame_and_deblurred
    body = frame[:BODY_ROWS].astype(np.float32)  # the consumer crops the info bar, as the card says
    pipeline = create_prediction_pipeline(load_description(package), weight_format=weight_format)
    out = predict(model=pipeline, inputs={"input": body[None, None]})  # whole frame: no blocksize_parameter
    normalised = np.asarray(out.members["output"].data)[0, 0]
    # the spec cannot express the inverse of the percentile map: the output is in normalised units and
    # the consumer maps it back with the input's own percentiles (the package's card says how)
    grey = np.clip(np.round(intensity.measure(body).inverse(normalised.copy())), 0, 255).astype(np.int32)
    # one grey level: bioimageio's percentiles add eps=1e-6 to the span and the runtimes' float sums differ
    # in the last bits (measured: the float results agree within 1e-3 grey levels), so a value
    # near x.5 may round the other way
    assert np.abs(grey - expected).max() <= 1
