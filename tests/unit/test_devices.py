"""pick_device: validated names, and a one-line MidnetError for a device this machine lacks."""

import pytest
import torch

from midnet.inference.devices import DEVICE_CHOICES, check_device_name, pick_device
from midnet.errors import MidnetError


@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr("midnet.inference.devices._mps_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


@pytest.mark.parametrize("name", ["cdua", "gpu", "cuda:", "cuda:x", "ipu", "xla", "mkldnn", "cpu:0", ""])
def test_unknown_names_are_a_midnet_error_listing_the_choices(name, no_accelerators):
    with pytest.raises(MidnetError, match="unknown device .*auto, cpu, cuda, cuda:N, mps") as err:
        check_device_name(name or " ")
    assert "\n" not in str(err.value)
    if name:
        with pytest.raises(MidnetError, match="unknown device"):
            pick_device(name)


def test_choices_are_the_documented_ones():
    assert DEVICE_CHOICES == ("auto", "cpu", "cuda", "cuda:N", "mps")


def test_cuda_without_a_gpu_says_to_use_the_cpu(no_accelerators):
    for name in ("cuda", "cuda:0", "CUDA"):
        with pytest.raises(MidnetError, match="^cuda requested but no CUDA device is available; use --device cpu"):
            pick_device(name)


def test_mps_without_apple_gpu_says_to_use_the_cpu(no_accelerators):
    with pytest.raises(MidnetError, match="^mps requested but no Apple MPS device is available; use --device cpu"):
        pick_device("mps")


def test_auto_and_cpu_on_a_cpu_only_machine(no_accelerators):
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device(None) == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")
    assert pick_device(torch.device("meta")) == torch.device("meta")  # a torch.device is taken as given


def test_cuda_index_is_checked_against_the_gpus_there(two_gpus):
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device("auto") == torch.device("cuda", 0)
    with pytest.raises(MidnetError, match=r"cuda:2 requested but this machine has 2 CUDA device\(s\) \(cuda:0..cuda:1\)"):
        pick_device("cuda:2")


def test_bare_cuda_takes_this_ranks_gpu(two_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert pick_device("cuda") == torch.device("cuda", 1)
    assert pick_device("auto") == torch.device("cuda", 1)
