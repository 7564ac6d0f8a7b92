import json

import pytest
import torch
import torch.nn.functional as F

from midnet.models.dmphn import DMPHN

from ..conftest import TEST_DATA

# Names and shapes of one official Encoder() and Decoder(), dumped by instantiating
# HongguangZhang/DMPHN-cvpr19-master's models.py (see the file's "source").
OFFICIAL = json.loads((TEST_DATA / "dmphn_official_names.json").read_text())
LEVELS = (1, 2, 3)
SMALL = dict(width=4)  # a few thousand parameters: fast on 2 CPU cores


def shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def test_default_is_official_1_2_4_parameter_count():
    net = DMPHN()
    from_fixture = sum(
        torch.Size(s).numel() for part in ("encoder", "decoder") for s in OFFICIAL[part].values()
    )
    assert OFFICIAL["dmphn_1_2_4_parameters"] == 3 * from_fixture == 5_424_393
    assert sum(p.numel() for p in net.parameters()) == 5_424_393


def test_cpu_sized_variant_parameter_count():
    net = DMPHN(in_chans=1, width=17)
    assert sum(p.numel() for p in net.parameters()) == 1_531_941


@pytest.mark.parametrize("level", LEVELS)
def test_per_level_names_and_shapes_are_official(level):
    net = DMPHN()
    assert shapes(getattr(net, f"encoder_lv{level}")) == OFFICIAL["encoder"]
    assert shapes(getattr(net, f"decoder_lv{level}")) == OFFICIAL["decoder"]


def test_official_per_level_state_dicts_load_strictly():
    net = DMPHN()
    for level in LEVELS:
        for part in ("encoder", "decoder"):
            state = {k: torch.randn(s) for k, s in OFFICIAL[part].items()}
            getattr(net, f"{part}_lv{level}").load_state_dict(state, strict=True)
    # and the whole model holds nothing but the six official modules
    expected = {f"{part}_lv{lv}.{k}" for lv in LEVELS for part in ("encoder", "decoder") for k in OFFICIAL[part]}
    assert set(net.state_dict()) == expected


@pytest.mark.parametrize("ch", [1, 3])
@pytest.mark.parametrize("hw", [(37, 53), (16, 24), (5, 7)])
def test_any_size_and_channels(ch, hw):
    net = DMPHN(in_chans=ch, **SMALL).eval()
    x = torch.rand(2, ch, *hw)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_odd_sizes_are_reflect_padded_to_a_multiple_of_8_and_cropped_back():
    net = DMPHN(in_chans=1, **SMALL).eval()
    x = torch.rand(1, 1, 37, 53)
    padded = F.pad(x, (0, 3, 0, 3), mode="reflect")  # 40 x 56
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(padded)[..., :37, :53])


def test_forward_is_the_official_1_2_4_dataflow():
    """The official scripts' wiring (DMPHN_1_2_4_test.py), restated with the model's modules."""
    net = DMPHN(in_chans=3, **SMALL).eval()
    e1, e2, e3 = net.encoder_lv1, net.encoder_lv2, net.encoder_lv3
    d1, d2, d3 = net.decoder_lv1, net.decoder_lv2, net.decoder_lv3
    blur = torch.rand(1, 3, 16, 24)
    x = blur - 0.5  # the scripts feed blur - 0.5 and save output + 0.5
    H, W = 16, 24
    top, bot = x[:, :, : H // 2], x[:, :, H // 2 :]
    f3_top = torch.cat((e3(top[..., : W // 2]), e3(top[..., W // 2 :])), 3)
    f3_bot = torch.cat((e3(bot[..., : W // 2]), e3(bot[..., W // 2 :])), 3)
    f3 = torch.cat((f3_top, f3_bot), 2)
    f2 = torch.cat((e2(top + d3(f3_top)), e2(bot + d3(f3_bot))), 2) + f3
    expected = d1(e1(x + d2(f2)) + f2) + 0.5
    with torch.no_grad():
        torch.testing.assert_close(net(blur), expected.detach())


def test_levels_see_their_own_patches():
    net = DMPHN(in_chans=1, **SMALL).eval()
    seen = {lv: [] for lv in LEVELS}
    for lv in LEVELS:
        getattr(net, f"encoder_lv{lv}").register_forward_hook(lambda m, inp, out, lv=lv: seen[lv].append(inp[0]))
    x = torch.rand(1, 1, 16, 24)
    with torch.no_grad():
        net(x)
    c = x - 0.5
    quarters = [c[:, :, :8, :12], c[:, :, :8, 12:], c[:, :, 8:, :12], c[:, :, 8:, 12:]]  # rows split first
    assert len(seen[3]) == 4
    for got, quarter in zip(seen[3], quarters):
        torch.testing.assert_close(got, quarter)  # level 3: the raw patch
    assert [tuple(t.shape[-2:]) for t in seen[2]] == [(8, 24), (8, 24)]  # top and bottom halves
    assert [tuple(t.shape[-2:]) for t in seen[1]] == [(16, 24)]  # the whole image


def test_level3_encodes_patches_independently_but_the_model_is_not_patch_independent():
    net = DMPHN(in_chans=1, **SMALL).eval()
    lv3 = []  # encoder_lv3's outputs: 4 patches per forward, top-left first
    net.encoder_lv3.register_forward_hook(lambda m, inp, out: lv3.append(out))
    x = torch.rand(1, 1, 32, 32)
    x2 = x.clone()
    x2[:, :, 16:, :] = torch.rand(1, 1, 16, 32)  # a new bottom half
    with torch.no_grad():
        y, y2 = net(x), net(x2)
    assert len(lv3) == 8
    # the top-left patch's level-3 features do not see the bottom half...
    torch.testing.assert_close(lv3[0], lv3[4])
    # ...but levels 2 and 1 carry it across: the top half's output changes
    assert (y[..., :16, :] - y2[..., :16, :]).abs().max() > 1e-6


def test_gradients_reach_every_parameter():
    net = DMPHN(in_chans=1, **SMALL)
    x = torch.rand(2, 1, 16, 16)
    net(x).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
