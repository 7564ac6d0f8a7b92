import pytest
import torch
from safetensors.torch import load_file, save_file

import midnet
from midnet import MidnetError, count_parameters, create_model, parse_model_config
from midnet.models import MIDNet, NAFNet
from midnet.models.zoo import PRESETS
from midnet.models.blocks import AttentionGate
from midnet.models.weights import infer_config, read_weights, save_model
from midnet.models.zoo import load_model

from ..conftest import TEST_DATA

OFFICIAL = TEST_DATA / "nafnet_official_w8.safetensors"  # made by running megvii-research/NAFNet's own code
OFFICIAL_KW = dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 2], dec_blk_nums=[1, 1])


def official(ch: int):
    data = load_file(str(OFFICIAL))
    prefix = f"c{ch}.params."
    state = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
    return state, data[f"c{ch}.input"], data[f"c{ch}.output"]


def test_nafnet_gopro_has_official_parameter_count():
    net = NAFNet(img_channel=3, width=32, middle_blk_num=1, enc_blk_nums=[1, 1, 1, 28], dec_blk_nums=[1, 1, 1, 1])
    assert count_parameters(net) == 17_111_907
    assert count_parameters(create_model("nafnet-w32", in_chans=3)) == 17_111_907


@pytest.mark.parametrize("ch", [1, 3])
def test_official_state_dict_loads_strictly_and_matches_official_output(ch):
    state, x, y_official = official(ch)
    net = NAFNet(img_channel=ch, **OFFICIAL_KW).eval()
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape  # 21x30 is not a multiple of 4: padded and cropped back
    torch.testing.assert_close(y, y_official, atol=1e-5, rtol=1e-5)


def test_official_pth_checkpoint_loads_by_file_with_weights_only(tmp_path):
    state, x, y_official = official(3)
    pth = tmp_path / "NAFNet-official.pth"
    torch.save({"params": state}, pth)  # the layout of the official BasicSR checkpoints
    net = load_model(pth)
    assert isinstance(net, NAFNet) and net.config.arch == "nafnet"
    assert net.config.enc_blk_nums == (1, 2) and net.config.width == 8 and net.config.in_chans == 3
    with torch.no_grad():
        torch.testing.assert_close(net(x), y_official, atol=1e-5, rtol=1e-5)


class _RunsCode:
    """Unpickling this calls a function: what weights_only=True must refuse."""

    def __reduce__(self):
        return (_mark_ran, ())


_RAN = []


def _mark_ran():
    _RAN.append(True)


def test_pickle_with_code_is_refused(tmp_path):
    bad = tmp_path / "evil.pth"
    torch.save({"params": {"intro.weight": torch.zeros(1)}, "obj": _RunsCode()}, bad)
    with pytest.raises(MidnetError, match="never unpickles") as info:
        load_model(bad)
    assert not _RAN
    assert "weights_only=False" not in str(info.value)  # never relay torch's advice to run the file's code


@pytest.mark.parametrize("name", ["midnet-s", "nafnet-s"])
@pytest.mark.parametrize("ch", [1, 3])
@pytest.mark.parametrize("hw", [(16, 16), (37, 53), (64, 31)])
def test_any_size_and_channels(name, ch, hw):
    net = create_model(name, in_chans=ch).eval()
    x = torch.rand(2, ch, *hw)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    # skip-init: every block starts as identity, but intro/ending do not cancel; output is finite
    assert torch.isfinite(y).all()


def test_midnet_adds_gates_and_add_ablation_is_nafnet():
    kw = dict(img_channel=1, **OFFICIAL_KW)
    naf, gated, plain = NAFNet(**kw), MIDNet(**kw), MIDNet(**kw, skip="add")
    assert count_parameters(gated) > count_parameters(naf)
    assert count_parameters(plain) == count_parameters(naf)
    assert all(isinstance(s, AttentionGate) for s in gated.skips) and len(gated.skips) == 2
    # skip="add" is NAFNet: the official weights load and give the official output
    state, x, y = official(1)
    plain.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(x), y, atol=1e-5, rtol=1e-5)
        # the same weights in the gated network (gates aside) give a different output: the gate acts
        gated.load_state_dict(state, strict=False)
        assert not torch.allclose(gated.eval()(x), y, atol=1e-4)


def test_attention_gate_weights_the_skip():
    gate = AttentionGate(8)
    g, x = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 5, 6)
    alpha = gate.attention(g, x)
    assert alpha.shape == (2, 1, 5, 6) and (alpha > 0).all() and (alpha < 1).all()
    with torch.no_grad():
        gate.psi.bias.fill_(-50.0)  # gate closed: the encoder feature is dropped
    torch.testing.assert_close(gate(g, x), g)
    with torch.no_grad():
        gate.psi.bias.fill_(50.0)  # gate open: plain addition
    torch.testing.assert_close(gate(g, x), g + x)


@pytest.mark.parametrize("ch", [1, 3])
def test_every_midnet_parameter_receives_a_gradient(ch):
    net = create_model("midnet-s", in_chans=ch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, t = torch.rand(2, ch, 32, 32), torch.rand(2, ch, 32, 32)
    # one step first: with skip-init (beta = gamma = 0) the block convs get no gradient at step 0
    for _ in range(2):
        opt.zero_grad()
        loss = (net(x) - t).abs().mean()
        loss.backward()
        opt.step()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_create_model_unknown_name_lists_valid_ones():
    with pytest.raises(MidnetError) as err:
        create_model("midnet-xxl")
    msg = str(err.value)
    assert "midnet-xxl" in msg and all(name in msg for name in PRESETS)
    assert "\n" not in msg


def test_create_model_overrides_and_config():
    net = create_model("midnet-s", width=8, skip="add")
    assert net.config.width == 8 and net.config.skip == "add"
    again = create_model(net.config)
    assert again.config == net.config and count_parameters(again) == count_parameters(net)


@pytest.mark.parametrize(
    "bad",
    [
        dict(arch="midnet", colour=True),  # unknown key
        dict(arch="midnet", width=1000),  # out of bounds
        dict(arch="midnet", in_chans=0),
        dict(arch="midnet", enc_blk_nums=(1, 1), dec_blk_nums=(1,)),  # levels disagree
        dict(arch="nafnet", skip="attention"),  # NAFNet has no gates
        dict(arch="unet"),
        dict(arch="hinet", width=8),  # a U-Net field on another family
        dict(arch="restormer", dim=16, heads=(1, 2, 4)),  # four levels
        dict(arch="restormer", num_blocks=(4, 6, 6, 100_000)),  # a network no file could fill
        dict(arch="restormer", heads=(1, 2, 0, 8)),
    ],
)
def test_model_config_rejects(bad):
    with pytest.raises(ValueError):
        parse_model_config(bad)


def test_create_model_bad_override_is_one_clear_line():
    with pytest.raises(MidnetError, match="width"):
        create_model("midnet-s", width=3)


def test_pretrained_without_shipped_weights_is_a_clear_error():
    with pytest.raises(MidnetError, match="has no shipped weights"):
        create_model("nafnet-w32", pretrained=True)


def test_safetensors_round_trip_rebuilds_from_file_alone(tmp_path):
    net = create_model("midnet-s", in_chans=1, width=8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = save_model(net, tmp_path / "sub" / "m.safetensors", metadata={"note": "test"})
    state, meta = read_weights(path)
    assert parse_model_config(meta["midnet.config"]) == net.config and meta["note"] == "test"
    loaded = midnet.load_model(path)
    assert loaded.config == net.config and not loaded.training
    x = torch.rand(1, 1, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))
    assert not list(tmp_path.glob("sub/*.tmp"))  # atomic write leaves no temporary behind


def test_a_small_file_naming_a_huge_network_is_refused_before_it_is_built(tmp_path):
    # 367 M parameters (1.5 GB) named by 4 bytes of tensor: refused from the shapes alone,
    # by the check that runs before the network is allocated (load_state_strict words it otherwise).
    config = parse_model_config(dict(arch="midnet", width=128, enc_blk_nums=(16,) * 4, dec_blk_nums=(16,) * 4))
    path = tmp_path / "crafted.safetensors"
    save_file({"intro.weight": torch.zeros(1)}, str(path), metadata={"midnet.config": config.model_dump_json()})
    with pytest.raises(MidnetError, match=r"crafted\.safetensors: weights do not fit the network their config describes"):
        load_model(path)


def test_weights_with_a_wrong_shape_are_refused_by_name(tmp_path):
    net = create_model("midnet-s", in_chans=1, width=8)
    state = net.state_dict()
    state["ending.weight"] = torch.zeros(2, 8, 3, 3)
    path = tmp_path / "bent.safetensors"
    save_file(state, str(path), metadata={"midnet.config": net.config.model_dump_json()})
    with pytest.raises(MidnetError, match="other shape: ending.weight"):
        load_model(path)


def test_infer_config_reads_midnet_state_dicts():
    net = create_model("midnet-s", in_chans=3)
    assert infer_config(net.state_dict()) == net.config


def test_missing_and_bad_model_files(tmp_path):
    with pytest.raises(MidnetError, match="no such model file"):
        load_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(MidnetError, match="not a readable"):
        load_model(junk)
    other = tmp_path / "w.onnx"
    other.write_bytes(b"x")
    with pytest.raises(MidnetError, match="unknown weights format"):
        load_model(other)


@pytest.mark.parametrize(
    "name, chans, count",
    [("hinet", 3, 88_669_702), ("restormer", 3, 26_126_644), ("dmphn", 3, 5_424_393), ("nafnet-w32", 3, 17_111_907)],
)
def test_official_sizes_through_the_factory(name, chans, count):
    with torch.device("meta"):  # shapes only
        assert count_parameters(create_model(name, in_chans=chans)) == count


@pytest.mark.parametrize("name", ["hinet-s", "restormer-s", "dmphn-s"])
def test_compared_networks_restore_any_size_and_round_trip(name, tmp_path):
    net = create_model(name).eval()
    assert 1_000_000 < count_parameters(net) < 2_000_000  # CPU-sized like midnet-s
    path = save_model(net, tmp_path / f"{name}.safetensors")
    loaded = load_model(path)
    assert type(loaded) is type(net) and loaded.config == net.config
    x = torch.rand(1, 1, 37, 53)
    from midnet.inference.tiling import final_output

    with torch.no_grad():
        y = final_output(loaded(x))
        torch.testing.assert_close(y, final_output(net(x)))
    assert y.shape == x.shape


def test_padding_is_recorded_in_the_weights_and_rebuilt_from_them(tmp_path):
    net = create_model("midnet-s", width=8, padding="reflect")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    loaded = midnet.load_model(save_model(net, tmp_path / "m.safetensors"))
    assert loaded.config.padding == "reflect"
    spatial = [m for m in loaded.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert spatial and all(m.padding_mode == "reflect" for m in spatial)
    x = torch.rand(1, 1, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))
        zeros = create_model("midnet-s", width=8).eval()
        zeros.load_state_dict(net.state_dict())  # same parameters: the option adds none
        moved = (zeros(x) - net(x)).abs()[0, 0]
    assert moved[0].max() > 1e-3 and moved[20, 28] < moved[0].max()  # the edge is where the two differ most


def test_weights_written_before_the_padding_option_keep_zero_padding():
    config = parse_model_config({"arch": "midnet", "width": 8})  # as every file before midnet-sem 2.1 records
    assert config.padding == "zeros"
    assert all(m.padding_mode == "zeros" for m in midnet.models.build_model(config).modules()
               if isinstance(m, torch.nn.Conv2d))
