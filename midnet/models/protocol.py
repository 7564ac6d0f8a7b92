"""What midnet needs of a network to restore with it, named once: :class:`RestorationNetwork`.

The restorer, the tiles, the engines, the exports and training read three facts of a
network: the stride its sides are padded to, how many image channels it takes, and
whether its output is the input plus a residual it exposes. Every preset of
:func:`midnet.create_model` declares them, and so does every module or engine that
stands for a network (the reduced-precision copy, the exports' final-output wrapper,
the ONNX Runtime and OpenVINO engines); tests/unit/test_network_protocol.py checks each.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class RestorationNetwork(Protocol):
    """A network midnet restores with: called on an NCHW float tensor, it returns the restored image (a
    multi-stage network returns every stage, the last being the image: midnet.inference.tiling.final_output).

    ``isinstance(x, RestorationNetwork)`` checks that the three attributes exist, not their values.
    """

    padder_size: int  # the stride: H and W are padded to a multiple of it (tiles are aligned to it)
    in_chans: int  # image channels in and out; a grey frame is repeated over them and their mean kept
    # True when forward(x) is x + residual(x) on x padded to padder_size, residual() a method: a
    # reduced-precision copy then adds the residual to the input in float32 (midnet/inference/precision.py)
    exposes_residual: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]: ...
