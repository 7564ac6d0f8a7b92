"""Every method on the same micrographs: one PSNR/SSIM table and one picture grid.

A method is ``input`` (the blurry frame), a classical deconvolution (``wiener``,
``richardson-lucy``, ``unsharp``) or a network (a preset name or a weights file). With
``folds`` > 1 the micrographs are split by micrograph; each classical method is then
calibrated on the training micrographs of each fold, and a network path may contain
``{fold}``, replaced by the fold number (e.g. ``runs/sem-fold{fold}/last.safetensors``), so
every micrograph is scored by a model that never saw it. A network without ``{fold}``
is used as it is, whatever it was trained on: say so when you report its numbers.
``LABEL=METHOD`` names a column (``NAFNet-s=runs/nafnet-f{fold}/last.safetensors``); a
weights file without a label is named after its run folder (``nafnet-f{fold}`` -> ``nafnet``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import calibrate
from ..inference.classical import CLASSICAL_METHODS, INPUT, ClassicalParams, default_params
from ..data import load_pairs, split_names
from ..data.pairs import Pair
from ..errors import MidnetError
from .evaluate import quantise, score_pair


@dataclass
class Comparison:
    methods: list[str]
    rows: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # name -> method -> (psnr, ssim)
    folds: dict[str, int] = field(default_factory=dict)
    crops: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # name -> method -> detail crop

    def mean(self, method: str) -> tuple[float, float]:
        vals = [r[method] for r in self.rows.values()]
        return float(np.mean([v[0] for v in vals])), float(np.mean([v[1] for v in vals]))

    def markdown(self) -> str:
        head = "| micrograph | " + " | ".join(f"{m} PSNR / SSIM" for m in self.methods) + " |"
        lines = [head, "|" + " --- |" * (len(self.methods) + 1)]
        for name, row in self.rows.items():
            label = f"{name} (fold {self.folds[name]})" if name in self.folds else name
            lines.append(f"| {label} | " + " | ".join(f"{row[m][0]:.2f} / {row[m][1]:.4f}" for m in self.methods) + " |")
        lines.append("| **mean** | " + " | ".join(f"**{p:.2f} / {s:.4f}**" for p, s in map(self.mean, self.methods)) + " |")
        return "\n".join(lines)

    def table(self) -> str:
        width = max(12, *(len(m) for m in self.methods))
        lines = [f"{'micrograph':<14} " + " ".join(f"{m:>{width}}" for m in self.methods)]
        for name, row in list(self.rows.items()) + [("mean", {m: self.mean(m) for m in self.methods})]:
            lines.append(f"{name:<14} " + " ".join(f"{f'{row[m][0]:.2f} {row[m][1]:.3f}':>{width}}" for m in self.methods))
        return "\n".join(lines)


def parse_methods(methods: Sequence[str]) -> dict[str, str]:
    """``[LABEL=]METHOD`` strings -> {label: method}, labels unique and short enough for a column head."""
    out: dict[str, str] = {}
    for spec in methods:
        label, sep, method = spec.partition("=")
        label, method = (label.strip(), method.strip()) if sep else (_default_label(spec.strip()), spec.strip())
        if not label or not method:
            raise MidnetError(f"method {spec!r}: write METHOD or LABEL=METHOD, e.g. NAFNet-s=runs/nafnet/last.safetensors")
        if label in out:
            raise MidnetError(f"method label {label!r} given twice: name the columns with LABEL=METHOD")
        out[label] = method
    return out


def _default_label(method: str) -> str:
    if "/" not in method and "\\" not in method and not method.endswith((".safetensors", ".pth", ".pt", ".onnx")):
        return method  # input, wiener, a preset name
    path = Path(method)
    name = path.parent.name if path.stem in ("last", "best", "model") and path.parent.name else path.stem
    return re.sub(r"[-_]?(f|fold)\{fold\}$", "", name) or name


def _restorers(methods: dict[str, str], fold: int, train_pairs: Sequence[Pair], calibrated: bool
               ) -> dict[str, Callable[[np.ndarray], np.ndarray] | None]:
    from ..inference.restore import make_restorer
    from ..inference.settings import RestoreSettings

    out: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {}
    params: ClassicalParams | None = None
    wanted = [c for c in CLASSICAL_METHODS if c in methods.values()]
    for label, m in methods.items():
        if m == INPUT:
            out[label] = None
        elif m in CLASSICAL_METHODS:
            if params is None:
                params = calibrate(train_pairs, wanted) if calibrated else default_params()
            out[label] = make_restorer(RestoreSettings.exact(method=m, calibration=params))
        else:
            source = m.replace("{fold}", str(fold))
            if not Path(source).is_file() and source.endswith((".safetensors", ".pth", ".pt", ".onnx")):
                raise MidnetError(f"{source}: no such model file (method {m!r}, fold {fold})")
            out[label] = make_restorer(RestoreSettings.exact(model=source))  # scores: no engine race
    return out


def compare(
    data: str | Path,
    methods: Sequence[str],
    folds: int = 0,
    infobar: Any = "auto",
    detail: int = 160,
    on_step: Callable[[str], None] | None = None,
) -> Comparison:
    """Score every method on every micrograph of ``data`` (see the module docstring)."""
    if not methods:
        raise MidnetError("give at least one method, e.g. --methods input,wiener,midnet-sem")
    labelled = parse_methods(methods)
    pairs = load_pairs(data, infobar, align="affine")  # every method restores the same registered blurry frame
    names = [p.name for p in pairs]
    splits = [split_names(names, folds=folds, fold=k) for k in range(folds)] if folds > 1 else [(names, names)]
    result = Comparison(list(labelled))
    for k, (train_names, test_names) in enumerate(splits):
        calibrated = folds > 1
        train_pairs = [p for p in pairs if p.name in train_names] if calibrated else pairs
        restorers = _restorers(labelled, k, train_pairs, calibrated)
        for pair in (p for p in pairs if p.name in test_names):
            if folds > 1:
                result.folds[pair.name] = k
            row, crops = {}, {}
            side = min(detail, *pair.blur.shape)  # a square detail, smaller on small frames
            top, left = _detail_corner(pair, side)
            for m, fn in restorers.items():
                restored = pair.blur if fn is None else quantise(fn(pair.blur), pair.full_scale)
                score = score_pair(restored, pair)
                row[m] = (score["input_psnr"], score["input_ssim"]) if fn is None else (score["psnr"], score["ssim"])
                crops[m] = restored[top : top + side, left : left + side]
                if on_step:
                    on_step(f"{pair.name}: {m}")
            sharp = pair.sharp
            crops["sharp"] = sharp[top : top + side, left : left + side]
            result.rows[pair.name], result.crops[pair.name] = row, crops
    return result


def _detail_corner(pair: Pair, size: int) -> tuple[int, int]:
    h, w = pair.blur.shape
    return max(0, (h - size) // 2), max(0, (w - size) // 2)
