"""The shipped midnet-sem weights: load offline by name, are trained, and are the default everywhere."""

import numpy as np
import torch

import midnet
from midnet.inference.settings import EXACT
from midnet.data import load_pairs
from midnet.quality.metrics import psnr
from midnet.models.zoo import PRESETS


def test_midnet_sem_loads_by_name_offline():
    net = midnet.create_model("midnet-sem", pretrained=True)
    assert net.config == midnet.create_model("midnet-s").config
    betas = torch.cat([p.flatten() for n, p in net.named_parameters() if n.endswith("beta")])
    assert betas.abs().mean() > 1e-3  # trained: skip-init zeros are long gone
    assert not midnet.load_model("midnet-sem").training


def test_midnet_sem_is_the_default_of_every_entry_point():
    import inspect

    from midnet import cli

    assert PRESETS["midnet-sem"].weights
    assert inspect.signature(midnet.RestoreSettings).parameters["model"].default == "midnet-sem"  # midnet.deblur's
    for command in ("deblur", "eval", "demo"):
        option = next(p for p in cli.cli.commands[command].params if p.name == "model_name")
        assert option.default == "midnet-sem"


def test_shipped_weights_restore_a_real_crop(sem_pairs):
    # a regression check of the file (these frames were in its training set), not a quality claim
    (pair,) = load_pairs(sem_pairs, names=["9-1"])
    blur, sharp = pair.blur[300:556, 400:720], pair.sharp[300:556, 400:720]
    restored = midnet.deblur(blur, infobar="none", **EXACT)
    assert restored.dtype == np.float32 and restored.shape == blur.shape
    assert psnr(sharp, restored, data_range=1.0) > psnr(sharp, blur, data_range=1.0) + 1.0
