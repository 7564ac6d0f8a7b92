"""ONNX Runtime as an optional engine for whole-frame inference on the CPU.

The fused inference copy (midnet/fast.py) is exported to ONNX once per frame size and run
by ONNX Runtime, which executes this graph of 1x1/depthwise convolutions and element-wise
products faster than eager PyTorch on a CPU, after seconds of export per frame size
(figures: docs/performance.md). So it pays on a batch of same-size micrographs, not on a
single one, and `midnet deblur --engine onnx` is a choice, not the default. Tiled frames stay on PyTorch: their whole-frame statistics come
from hooks in the torch module (midnet/tiling.py), which an exported graph cannot carry.
Needs the `onnx` extra: pip install "midnet[onnx]".
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import torch
from torch import nn

from .errors import MidnetError, one_line

MAX_SESSIONS = 4  # exported frame sizes kept at once (TTA turns a non-square frame into two)
INSTALL_HINT = 'the onnx engine needs ONNX Runtime: pip install "midnet[onnx]" (or use --engine torch)'


class OnnxEngine:
    """Call like the module on a CPU NCHW float32 tensor; one ONNX session per input shape."""

    def __init__(self, module: nn.Module, threads: int | None = None):
        try:
            import onnxruntime  # noqa: F401
            import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
        except ImportError:
            raise MidnetError(INSTALL_HINT) from None
        if next(module.parameters()).device.type != "cpu":
            raise MidnetError("the onnx engine runs on the CPU; use --device cpu or --engine torch")
        self.module = module
        self.threads = threads or torch.get_num_threads()
        self._sessions: dict[tuple[int, ...], object] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        if key not in self._sessions:
            if len(self._sessions) >= MAX_SESSIONS:  # a batch of many frame sizes must not grow without bound
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[key] = self._export(x)
        out = self._sessions[key].run(None, {"x": x.detach().contiguous().numpy()})[0]
        return torch.from_numpy(out)

    def _export(self, x: torch.Tensor):
        import onnxruntime as ort

        buf = io.BytesIO()
        quiet = logging.getLogger("torch.onnx")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:  # the exporter reports its progress on stdout, which a command may use for data
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(self.module, (x.contiguous(),), buf, input_names=["x"], output_names=["y"],
                                  dynamo=True, verbose=False)
        except Exception as exc:
            raise MidnetError(f"export to ONNX failed ({type(exc).__name__}: {one_line(exc, 160)}); "
                              "use --engine torch") from exc
        finally:
            quiet.setLevel(level)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
