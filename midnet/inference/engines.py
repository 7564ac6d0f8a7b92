"""Engines: other runtimes for whole-frame inference on the CPU, fed by ONE cached ONNX file.

An engine is called like the network on a CPU NCHW float32 tensor and returns the same
result. Each engine here runs the network's ONNX export (midnet/inference/onnx_graph.py): one
file with dynamic batch, height and width, exported once per network and kept in
midnet's cache (midnet/inference/cache.py), so every frame size, every later process and every
engine that reads ONNX share it. ONNX Runtime executes this graph of 1x1/depthwise
convolutions and element-wise products faster than eager PyTorch on a CPU (figures:
docs/performance.md), so ``--engine onnx`` pays on a batch of micrographs, or on one once
the cache holds the file. ``--engine auto`` (midnet/inference/engine_choice.py) measures torch and
every installed engine here once per machine and model, and may pick one of them.

Tiled frames stay on PyTorch. Their whole-frame statistics come from forward hooks on
every global pooling layer (midnet/inference/tiling.py): a first pass records each pool's sums
over tile cores, a second replays the whole-frame means. An exported graph has no hooks;
carrying the statistics would take a second export with every pool's mean as an extra
input (and one returning every pool's sums), which this module does not do.

A new engine subclasses :class:`ExportedEngine` (``_load`` and ``_run``) and registers
in :data:`ENGINES`; ``RestoreSettings(engine=name)`` and ``--engine`` then offer it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..choices import ENGINE_NAMES
from ..errors import MidnetError
from ..models.blocks import pad_to_multiple
from .onnx_graph import INPUT, cached_onnx, size_multiple

INSTALL_HINT = 'the onnx engine needs ONNX Runtime: pip install "midnet[onnx]" (or use --engine torch)'


class ExportedEngine:
    """Runs a module's cached ONNX export; called like the module on a CPU NCHW float32 tensor.

    The file is found (or exported) on the first call, not at construction. Inputs of any
    size are padded with zeros at the bottom and right to the network's size multiple, as
    the module's own forward does, and the output is cropped back; midnet's restorer pads
    by reflection before the engine sees a frame, so there this padding has nothing to do.
    """

    name = ""
    requires: tuple[str, ...] = ()  # modules the engine imports: missing ones give install_hint
    install_hint = ""
    precisions: tuple[str, ...] = ("fp32",)  # what ``precision`` may be (midnet/inference/precision.py)

    def __init__(self, module: nn.Module, threads: int | None = None, precision: str = "fp32"):
        if precision not in self.precisions:
            raise MidnetError(f"the {self.name} engine runs {' or '.join(self.precisions)}, not {precision}; "
                              "use --engine torch (or openvino) for reduced precision")
        self.precision = precision  # what it runs; an engine may correct it once loaded
        for requirement in self.requires:  # found, not imported: onnx and onnxscript take seconds to import,
            if importlib.util.find_spec(requirement) is None:  # and a warm cache never needs them
                raise MidnetError(self.install_hint)
        if next(module.parameters()).device.type != "cpu":
            raise MidnetError(f"the {self.name} engine runs on the CPU; use --device cpu or --engine torch")
        self.module = module
        self.threads = threads or torch.get_num_threads()
        self.multiple = size_multiple(module)
        self.in_chans = module.in_chans  # an engine stands for its network (midnet.models.RestorationNetwork)
        self.exposes_residual = False  # the graph runs whole: no residual to add apart
        self.graph_sha256: str | None = None  # the ONNX file's own SHA-256, once loaded
        self._model = None

    @property
    def padder_size(self) -> int:
        return self.multiple

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            from .cache import verified_sha256

            path = cached_onnx(self.module)  # verified against the SHA-256 recorded when it was exported
            self.graph_sha256 = verified_sha256(path)  # the provenance names the graph that ran
            self._model = self._load(path)
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x.detach().float().cpu(), self.multiple).contiguous()
        out = self._run(padded.numpy())
        return torch.from_numpy(np.ascontiguousarray(out))[..., :h, :w]

    def _load(self, path: Path):
        """The runtime's ready model of the ONNX file at ``path``."""
        raise NotImplementedError

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The ready model on a float32 NCHW array whose H and W are multiples of ``self.multiple``."""
        raise NotImplementedError


class OnnxEngine(ExportedEngine):
    """ONNX Runtime's CPU execution provider on the cached ONNX file."""

    name = "onnx"
    requires = ("onnxruntime", "onnx", "onnxscript")  # onnx and onnxscript: torch's exporter needs them
    install_hint = INSTALL_HINT

    def _load(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a damaged cache file: say where it is and how to drop it
            raise MidnetError(f"{path}: ONNX Runtime cannot load this cached model ({type(exc).__name__}); "
                              "run `midnet cache --clear` and try again") from exc
        check_graph_weights(path, session.get_modelmeta().custom_metadata_map, self.module)
        return session

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._model.run(None, {INPUT: x})[0]


def check_graph_weights(path: Path, metadata: dict, module: nn.Module) -> None:
    """Refuse a graph whose recorded weights (metadata ``midnet.weights_sha256``) are not ``module``'s.

    The cache's SHA-256 record catches a file changed after it was written; this catches a file
    written with its record by something else (both replaced): it is never run in place of the network.
    """
    from .cache import weights_sha256

    recorded = metadata.get("midnet.weights_sha256")
    if recorded != weights_sha256(module):
        raise MidnetError(f"{path}: this cached graph records other weights ({str(recorded)[:12]}...) than the "
                          "network asked for; run `midnet cache --clear` and try again")


OPENVINO_HINT = 'the openvino engine needs OpenVINO: pip install "midnet[openvino]" (or use --engine torch)'
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_compiled: dict[tuple, object] = {}  # (file, precision, threads) -> compiled model: compiled once per process


class OpenVinoEngine(ExportedEngine):
    """OpenVINO's CPU plugin on the cached ONNX file, compiled once with dynamic shapes.

    ``precision`` is OpenVINO's INFERENCE_PRECISION_HINT. The plugin may run another one
    (f32 where the CPU lacks bf16; bf16 for an f16 hint on a CPU without native f16):
    once the model is compiled (first call), :attr:`precision` is what the plugin reports
    it runs, in midnet's names. The compiled blob is kept in OpenVINO's own cache
    (CACHE_DIR) in the ``openvino`` folder of midnet's cache, so a later process loads it
    instead of compiling again; ``midnet cache`` lists and clears it.
    """

    name = "openvino"
    requires = ("openvino", "onnx", "onnxscript")
    install_hint = OPENVINO_HINT
    precisions = tuple(OPENVINO_PRECISIONS)

    def _load(self, path: Path):
        import openvino as ov

        from .cache import OPENVINO_KIND, cache_dir
        from .precision import native_bf16

        key = (str(path), self.precision, self.threads)
        if key not in _compiled:
            core = ov.Core()
            core.set_property({"CACHE_DIR": str(cache_dir() / OPENVINO_KIND)})
            # without usable bf16 (e.g. ONEDNN_MAX_CPU_ISA=AVX2) OpenVINO fails on a reduced-precision hint: ask f32
            hint = self.precision if self.precision == "fp32" or native_bf16() else "fp32"
            config = {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[hint],
                      "INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY"}
            try:
                _compiled[key] = core.compile_model(str(path), "CPU", config)
            except Exception as exc:  # a damaged cache file: say where it is and how to drop it
                raise MidnetError(f"{path}: OpenVINO cannot compile this cached model ({type(exc).__name__}); "
                                  "run `midnet cache --clear` and try again") from exc
        compiled = _compiled[key]
        self.precision = midnet_precision(compiled.get_property("INFERENCE_PRECISION_HINT"))
        return compiled.create_infer_request()

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._model.infer({0: x}, share_inputs=True)
        return self._model.get_output_tensor(0).data.copy()


def midnet_precision(element_type) -> str:
    """midnet's name (fp32, bf16, fp16) of the ``openvino.Type`` a compiled model reports it runs.

    ``str()`` of the Type is ``"<Type: 'bfloat16'>"``; its ``to_string()`` is OpenVINO's short
    name ("bf16"). A type midnet has no name for is returned as OpenVINO names it, so it
    matches no requested precision and ``--engine auto`` does not choose it.
    """
    name = element_type.to_string() if hasattr(element_type, "to_string") else str(element_type)
    return next((ours for ours, theirs in OPENVINO_PRECISIONS.items() if theirs == name), name)


ENGINES: dict[str, type[ExportedEngine]] = {"onnx": OnnxEngine, "openvino": OpenVinoEngine}  # keys: EXPORTED_ENGINES


def make_engine(name: str, module: nn.Module, threads: int | None = None, precision: str = "fp32"):
    """What runs ``module`` on whole frames: the module itself for "torch", else the named engine.

    ``precision`` (fp32, bf16, fp16) is the engine's; torch's reduced precision is midnet/inference/precision.py's copy.
    """
    if name == "torch":
        return module
    if name not in ENGINES:
        raise MidnetError(f"unknown engine {name!r}; use {' or '.join(ENGINE_NAMES)}")
    return ENGINES[name](module, threads, precision)
