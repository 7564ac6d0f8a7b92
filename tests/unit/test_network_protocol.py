"""Every network midnet restores with, and everything that stands for one, declares RestorationNetwork."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from torch import nn

from midnet.errors import MidnetError
from midnet.inference.fast import inference_copy
from midnet.models import RestorationNetwork
from midnet.inference.onnx_graph import FinalOutput
from midnet.inference.precision import ReducedPrecision
from midnet.inference.restore import make_restorer
from midnet.inference.settings import RestoreSettings
from midnet.models.zoo import PRESETS, create_model


@pytest.fixture(scope="module", params=sorted(PRESETS))
def preset(request):
    return request.param, create_model(request.param).eval()


def test_every_preset_and_its_wrappers_are_restoration_networks(preset):
    name, net = preset
    wrappers = [net, inference_copy(net), ReducedPrecision(net, "bf16"), FinalOutput(net)]
    for candidate in wrappers:
        assert isinstance(candidate, RestorationNetwork), f"{name}: {type(candidate).__name__}"
        assert (candidate.padder_size, candidate.in_chans) == (net.padder_size, net.config.in_chans)
    assert net.exposes_residual == hasattr(net, "residual")  # the NAFNet family exposes its residual


@pytest.mark.parametrize("engine", ["onnx", "openvino"])
def test_an_engine_stands_for_its_network(engine):
    from midnet.inference.engines import ENGINES

    if any(importlib.util.find_spec(m) is None for m in ENGINES[engine].requires):
        pytest.skip(f"{engine} is not installed")
    net = create_model("midnet-sem", width=8).eval()
    runner = ENGINES[engine](net)  # nothing exported yet: the graph is made on the first call
    assert isinstance(runner, RestorationNetwork) and runner.padder_size == net.padder_size


def test_a_module_that_declares_nothing_is_refused_in_one_line():
    assert not isinstance(nn.Conv2d(1, 1, 3), RestorationNetwork)
    with pytest.raises(MidnetError, match="RestorationNetwork") as err:
        make_restorer(RestoreSettings.exact(model=nn.Conv2d(1, 1, 3))).deblur(np.zeros((32, 32), np.uint8))
    assert "\n" not in str(err.value)
