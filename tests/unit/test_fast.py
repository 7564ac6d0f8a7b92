"""The inference fast path (midnet/inference/fast.py) computes the same function as the plain network."""

import pytest
import torch

import midnet
from midnet.inference.fast import optimize_for_inference
from midnet.models.blocks import LayerNorm2d, MIDBlock


def trained_like(name, **kw):
    net = midnet.create_model(name, **kw).eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


@pytest.mark.parametrize("name, kw", [("midnet-s", {}), ("midnet-s", {"skip": "add"}), ("nafnet-s", {}),
                                      ("midnet-s", {"in_chans": 3}), ("midnet-s", {"padding": "reflect"})])
def test_fast_copy_equals_plain_network(name, kw):
    net = trained_like(name, **kw)
    fast = optimize_for_inference(net)
    x = torch.rand(2, net.config.in_chans, 45, 71)  # odd size: padding and cropping too
    with torch.no_grad():
        expected = net(x)
        got = fast(x)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert not any(isinstance(m, (LayerNorm2d, MIDBlock)) for m in fast.modules())  # everything was folded
    assert any(isinstance(m, MIDBlock) for m in net.modules())  # the original is untouched


def test_shipped_model_fast_path_equals_plain():
    net = midnet.load_model("midnet-sem")
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(optimize_for_inference(net)(x), net(x), atol=1e-4, rtol=0)


# ---------------------------------------------------------------- the training fast path


def test_layer_norm_on_channels_last_takes_fused_kernel_and_equals_formula(monkeypatch):
    import torch.nn.functional as F

    from midnet.models import blocks

    norm = LayerNorm2d(16)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.uniform_(-1, 1)
    base = torch.randn(2, 16, 9, 13) * 3 + torch.linspace(-5, 5, 16).view(1, -1, 1, 1)  # channel means differ
    calls, fused_kernel = [], F.layer_norm
    monkeypatch.setattr(blocks.F, "layer_norm", lambda *a, **k: calls.append(1) or fused_kernel(*a, **k))

    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        x = base.clone().contiguous(memory_format=layout).requires_grad_(True)
        norm.zero_grad()
        y = norm(x)
        (y * torch.linspace(0, 1, y.numel()).view_as(y)).sum().backward()  # a non-uniform upstream gradient
        results.append((y.detach(), x.grad, norm.weight.grad.clone(), norm.bias.grad.clone()))
    assert len(calls) == 1  # NCHW took the formula, channels-last the fused kernel
    for plain, fused in zip(*results):
        torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    # and it normalises: zero mean, unit variance over channels before the affine
    n = (results[0][0] - norm.bias.view(1, -1, 1, 1)) / norm.weight.view(1, -1, 1, 1)
    torch.testing.assert_close(n.mean(1), torch.zeros(2, 9, 13), atol=1e-5, rtol=0)


# Adam divides by the gradient's running magnitude, so a component whose gradient is ~0 moves
# by +-lr on the sign of its rounding error: trajectories agree to float rounding for the
# LayerNorm nets of the CPU recipe, and more loosely where instance norms or deep stacks sit.
@pytest.mark.parametrize("name, rel", [("midnet-s", 1e-5), ("nafnet-s", 1e-5), ("hinet-s", 1e-3),
                                       ("restormer-s", 1e-3), ("dmphn-s", 1e-3)])
def test_channels_last_training_step_follows_plain_step(name, rel):
    """The product's training step gives the plain NCHW step's gradients and loss trajectory."""
    import copy

    from midnet.training.losses import RestorationLoss
    from midnet.training import training_step

    torch.manual_seed(0)
    model = midnet.create_model(name, **({"width": 8} if name.startswith(("midnet", "nafnet")) else {}))
    criterion = RestorationLoss()
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand(2, 1, 32, 48, generator=g), torch.rand(2, 1, 32, 48, generator=g)) for _ in range(8)]
    runs = []
    for layout in (torch.contiguous_format, torch.channels_last):
        net = copy.deepcopy(model).to(memory_format=layout).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        losses, first_grads = [], None
        for x, y in batches:
            losses.append(training_step(net, criterion, optimizer, x.contiguous(memory_format=layout), y)[0].item())
            if first_grads is None:
                first_grads = [p.grad.clone() for p in net.parameters()]
        runs.append((losses, first_grads))
    (plain, plain_grads), (fast, fast_grads) = runs
    assert plain[-1] != plain[0]  # the weights did move
    for a, b in zip(plain_grads, fast_grads):
        torch.testing.assert_close(b, a, atol=1e-6 + 1e-4 * a.abs().max().item(), rtol=1e-4)
    assert fast == pytest.approx(plain, rel=rel)
