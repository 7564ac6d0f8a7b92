import json

import pytest
import torch
from safetensors.torch import load_file

from midnet.models.hinet import HINet, HalfInstanceNorm2d

from ..conftest import TEST_DATA

# Both made by running megvii-model/HINet's own basicsr/models/archs/hinet_arch.py (HEAD 4e72315):
# the default model's state-dict names -> shapes, and a seeded HINet(in_chn=3, wf=6, depth=3)
# in eval mode (its norm parameters perturbed off 1/0) with a 1x3x40x56 input and both outputs.
OFFICIAL_NAMES = TEST_DATA / "hinet_official_names.json"
OFFICIAL_SMALL = TEST_DATA / "hinet_official_small.safetensors"
OFFICIAL_DEFAULT_PARAMS = 88_669_702  # the paper's 88.67 M


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def official_default() -> HINet:
    return HINet()  # built once: 88.67 M parameters, no forward pass on it


def test_default_has_official_parameter_count(official_default):
    assert count(official_default) == OFFICIAL_DEFAULT_PARAMS


def test_default_has_official_names_and_shapes(official_default):
    expected = json.loads(OFFICIAL_NAMES.read_text())
    ours = {k: list(v.shape) for k, v in official_default.state_dict().items()}
    assert ours == expected
    assert list(ours) == list(expected)  # even the key order, so saved checkpoints diff cleanly


def test_official_state_dict_loads_strictly_and_matches_official_outputs():
    data = load_file(str(OFFICIAL_SMALL))
    state = {k.removeprefix("params."): v for k, v in data.items() if k.startswith("params.")}
    net = HINet(in_chn=3, wf=6, depth=3).eval()
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = net(data["input"])
    assert isinstance(out, list) and len(out) == 2
    torch.testing.assert_close(out[0], data["out_stage1"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], data["out_stage2"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ch", [1, 3])
@pytest.mark.parametrize("depth", [3, 5])
def test_odd_sizes_give_both_stages_at_input_shape(ch, depth):
    net = HINet(in_chn=ch, wf=4, depth=depth).eval()
    x = torch.rand(2, ch, 37, 53)  # not a multiple of 4 or 16: padded, then cropped back
    with torch.no_grad():
        out = net(x)
    assert len(out) == 2
    assert all(o.shape == x.shape for o in out)
    assert all(torch.isfinite(o).all() for o in out)


@pytest.mark.parametrize("size", [(16, 16), (1, 1), (3, 5)])
def test_tiny_inputs_run_although_the_bottleneck_would_be_one_pixel(size):
    # Padded to 16x16, the depth-5 bottleneck is 1x1 and instance norm needs more than one
    # pixel (the official code raises): the forward pads one more multiple to the right.
    net = HINet(in_chn=1, wf=4, depth=5).eval()
    x = torch.rand(1, 1, *size)
    with torch.no_grad():
        out = net(x)
    assert all(o.shape == x.shape for o in out)


@pytest.mark.parametrize("ch", [1, 3])
def test_gradients_reach_every_parameter_through_both_stages(ch):
    net = HINet(in_chn=ch, wf=4, depth=3)
    x = torch.rand(1, ch, 21, 30)
    out1, out2 = net(x)
    (out1.square().mean() + out2.square().mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_hin_positions_pick_the_encoder_levels_with_half_instance_norm():
    net = HINet(wf=4, depth=4, hin_position_left=1, hin_position_right=2)
    for path in (net.down_path_1, net.down_path_2):
        assert [isinstance(b.norm, HalfInstanceNorm2d) for b in path] == [False, True, True, False]
    assert all(up.conv_block.norm is None for up in [*net.up_path_1, *net.up_path_2])


def test_half_instance_norm_leaves_the_second_half_untouched():
    norm = HalfInstanceNorm2d(6)
    x = torch.randn(2, 6, 5, 7) * 3 + 2
    y = norm(x)
    torch.testing.assert_close(y[:, 3:], x[:, 3:])
    torch.testing.assert_close(y[:, :3].mean((-2, -1)), torch.zeros(2, 3), atol=1e-5, rtol=0)


def test_cpu_sized_configuration_parameter_count():
    # wf=8, depth=5: the paper's layout at 1/8 width, ~1.4 M parameters for 1-channel SEM.
    assert count(HINet(in_chn=1, wf=8, depth=5)) == 1_388_722
