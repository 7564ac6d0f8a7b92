"""``engine="auto"``: the fastest engine and precision installed here, found by measuring, and remembered.

The candidates are every engine that can run on this machine (torch always; ONNX Runtime
and OpenVINO when installed) in every precision the request allows (``auto``: fp32, and
bf16 where the CPU has it natively: midnet/inference/precision.py). Each runs the same generated
trial frame; one whose output differs from the torch fp32 output by more than its
precision's bound (:data:`midnet.inference.precision.TOLERANCE`) is dropped, the fastest of the rest
wins. The choice is stored as JSON in midnet's cache (midnet/inference/cache.py) under a key made
of the model (weights SHA-256 and architecture), the CPU (model name and feature flags),
the thread count and the installed runtimes' versions, so the next restorer of this model
on this machine reads it instead of measuring again.

Whole frames only: a tiled frame goes through torch at the chosen precision, whose hooks
carry the whole-frame statistics between tiles (midnet/inference/tiling.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .cache import cache_path, cached, record_path
from .precision import TOLERANCE, reduced_precision, resolve_precision
from .runtime_info import cpu_flags, cpu_model, package_version

CHOICE_VERSION = "1"  # bump when the measurement changes: older choices are not reused
TRIAL_SIDE = 512  # a 512x512 trial frame: a fifth of a 1280x960 one, enough for stable ranks
REPEATS = 2  # best of 2 after one warm-up call (which pays any compilation)
RUNTIMES = {"onnx": ("onnxruntime", "onnx", "onnxscript"), "openvino": ("openvino", "onnx", "onnxscript")}


@dataclass
class Choice:
    """The engine and precision ``auto`` picked, with the seconds each candidate took on the trial frame."""

    engine: str
    precision: str
    seconds: dict[str, float] = field(default_factory=dict)  # "engine precision" -> s; None: failed or too far
    measured: bool = True  # False: read from the cache

    def summary(self) -> str:
        how = "measured now" if self.measured else "cached measurement"
        times = ", ".join(f"{k} {v:.2f} s" if v is not None else f"{k} unusable" for k, v in self.seconds.items())
        return f"engine auto: {self.engine} {self.precision} ({how}; {TRIAL_SIDE}px trial frame: {times})"


def installed(engine: str) -> bool:
    return engine == "torch" or all(importlib.util.find_spec(m) is not None for m in RUNTIMES[engine])


def settle(net: nn.Module, engine: str, precision: str) -> tuple[str, str, Choice | None]:
    """(engine, precision, auto's Choice or None): what runs ``net`` for an ``engine`` and ``precision`` request.

    The one place a request is decided (:meth:`midnet.inference.settings.RestoreSettings.resolved` asks it):
    ``engine="auto"`` is measured (or read) by :func:`choose_engine`; else ``precision="auto"`` is what
    the network's device runs natively (midnet/inference/precision.py), and fp32 for an engine without that format.
    """
    if engine == "auto":
        choice = choose_engine(net, precision)
        return choice.engine, choice.precision, choice
    settled = resolve_precision(precision, next(net.parameters()).device)
    if precision == "auto" and settled not in engine_precisions(engine):
        settled = "fp32"  # auto never asks an engine for a format it lacks (ONNX Runtime: fp32 only)
    return engine, settled, None


def candidates(precision: str, device: torch.device) -> list[tuple[str, str]]:
    """(engine, precision) pairs worth measuring for a ``precision`` request on ``device``: every installed
    engine in every format the request allows (``auto``: fp32, and what the device runs natively)."""
    if device.type != "cpu":
        return [("torch", resolve_precision(precision, device))]
    wanted = ["fp32", resolve_precision("auto", device)] if precision == "auto" else [precision]
    pairs = []
    for engine in ("torch", "onnx", "openvino"):
        for p in dict.fromkeys(wanted):
            if installed(engine) and p in engine_precisions(engine):
                pairs.append((engine, p))
    return pairs


def engine_precisions(engine: str) -> tuple[str, ...]:
    """The number formats ``engine`` runs (torch: all of them, through midnet/inference/precision.py's copy)."""
    from .engines import ENGINES

    return ("fp32", "bf16", "fp16") if engine == "torch" else ENGINES[engine].precisions


def choice_path(net: nn.Module, precision: str, pairs: list[tuple[str, str]]) -> Path:
    from .onnx_graph import model_key

    key = {
        "model": model_key(net),
        "cpu": cpu_model(),
        "flags": sorted(cpu_flags()),
        "threads": torch.get_num_threads(),
        "request": precision,
        "candidates": [list(p) for p in pairs],
        "versions": {m: package_version(m) for m in ("torch", "onnxruntime", "openvino", "onnx", "onnxscript")},
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_path("engine-choice", digest, f"v{CHOICE_VERSION}", ".json")


def choose_engine(net: nn.Module, precision: str = "auto") -> Choice:
    """The cached choice for ``net`` on this machine, measured first when there is none."""
    device = next(net.parameters()).device
    pairs = candidates(precision, device)
    if len(pairs) == 1:
        return Choice(*pairs[0], measured=False)
    path = choice_path(net, precision, pairs)
    measured_now: Choice | None = None

    def measure(tmp: str) -> None:
        nonlocal measured_now
        measured_now = _measure(net, pairs)
        Path(tmp).write_text(json.dumps(asdict(measured_now), indent=1), encoding="utf-8")

    stored_at = cached(path, measure)  # the cache's file, or a private one where the cache cannot be written
    if measured_now is not None:
        return measured_now
    stored = _read_choice(stored_at, pairs)
    if stored is None:  # damaged, or naming what this machine does not offer: measure again rather than refuse
        for old in (stored_at, record_path(stored_at)):
            with contextlib.suppress(OSError):
                old.unlink()
        cached(path, measure)
        return measured_now if measured_now is not None else Choice(*pairs[0], measured=False)
    return stored


def _read_choice(path: Path, pairs: list[tuple[str, str]]) -> Choice | None:
    """The stored choice, or None when the file does not hold one of ``pairs`` (the candidates measured here):
    valid JSON naming an unknown engine or precision is as damaged as a torn file."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        seconds = {str(k): (None if v is None else float(v)) for k, v in stored["seconds"].items()}
        choice = Choice(str(stored["engine"]), str(stored["precision"]), seconds, measured=False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return choice if (choice.engine, choice.precision) in [tuple(p) for p in pairs] else None


def trial_frame(side: int | None = None) -> torch.Tensor:
    """A generated frame on the network's normalised scale: smooth structure and noise, like a micrograph.
    ``side`` defaults to TRIAL_SIDE as it is when called (read then, so a test can set a smaller one)."""
    side = TRIAL_SIDE if side is None else side
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / side
    img = 0.5 + 0.3 * np.sin(20 * xx + 7 * yy) * np.cos(13 * yy) + 0.05 * rng.standard_normal((side, side))
    return torch.from_numpy(img.astype(np.float32))[None, None]


@torch.inference_mode()
def _measure(net: nn.Module, pairs: list[tuple[str, str]]) -> Choice:
    from .engines import make_engine

    x = trial_frame().expand(-1, net.in_chans, -1, -1).contiguous()
    reference = net(x)
    seconds: dict[str, float | None] = {}
    for engine, precision in pairs:
        label = f"{engine} {precision}"
        try:
            run = reduced_precision(net, precision) if engine == "torch" else make_engine(engine, net, precision=precision)
            out = run(x)  # the warm-up: loads, compiles
            ran = getattr(run, "precision", precision)
            if ran != precision or not float((out - reference).abs().max()) <= TOLERANCE[precision]:
                seconds[label] = None  # runs another precision than asked, or too far from fp32
                continue
            seconds[label] = min(_timed(run, x) for _ in range(REPEATS))
        except Exception:  # noqa: BLE001  an engine that fails here is simply not chosen
            seconds[label] = None
    usable = {k: v for k, v in seconds.items() if v is not None}
    best = min(usable, key=usable.get) if usable else "torch fp32"
    engine, precision = best.split(" ")
    return Choice(engine, precision, seconds)


def _timed(run, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    run(x)
    return time.perf_counter() - t0
