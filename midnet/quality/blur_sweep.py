"""The blur sweep: how a restorer does at every blur width, on micrographs it never saw.

Each held-out micrograph's in-focus exposure (info bar cut) is degraded by PSFs of increasing
width (midnet/data/degrade.py: Gaussian, defocus disc, astigmatic) with the noise measured on
the real blurry exposures, then restored and scored against the in-focus exposure itself, so
no registration is involved. The in-focus exposure is also restored as it is ("in focus"): a
restorer that knows the blur leaves it nearly unchanged.

Scores are on the 8-bit file's scale, from what ``Restorer.deblur`` returns for a uint8 frame,
which is what ``midnet deblur`` writes. ``benchmarks/bench_blur_sweep.py`` runs it on the k-fold
and prints the table of docs/results.md; a small version is in the slow tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..data import find_pairs
from ..data.degrade import Degradation, degrade_frame
from ..images.infobar import resolve_infobar
from ..images.io import read_image, to_gray_float
from .metrics import psnr, ssim

REAL_NOISE = 6.3 / 255  # noise sd at the frame mean: the seven real blurry exposures measure 5.6-7.2 (mean 6.4; scripts/noise_report.py)
IN_FOCUS = "in focus"  # the condition "the in-focus exposure restored as it is"
ASTIGMATIC_MINOR, ASTIGMATIC_ANGLE = 0.5, np.pi / 4  # the sweep's astigmatism: 2:1 axes at 45 degrees


@dataclass(frozen=True)
class Condition:
    """One column of the sweep: a named degradation, or none at all (the in-focus exposure as it is)."""

    name: str
    degradation: Degradation | None

    def input_for(self, sharp: np.ndarray, seed: int) -> np.ndarray:
        """The uint8 frame a restorer is given, from the in-focus exposure (float [0, 1])."""
        if self.degradation is None:
            return np.round(sharp * 255).astype(np.uint8)
        rng = np.random.default_rng([seed, sum(map(ord, self.name))])
        degraded = degrade_frame(sharp, self.degradation, rng, 255.0)
        return np.round(degraded * 255).astype(np.uint8)


def conditions(gaussian: Iterable[float] = (0, 0.5, 1, 2, 3, 4, 6, 8), disc: Iterable[float] = (1, 2, 3, 4, 6, 8),
               astigmatic: Iterable[float] = (2, 4, 6), noise: float = REAL_NOISE) -> list[Condition]:
    """The sweep's columns; widths are the PSF's standard deviation in pixels (a disc of radius 2 sigma)."""
    out = [Condition(IN_FOCUS, None)]
    out += [Condition(f"gaussian {s:g}", Degradation("gaussian", float(s), noise=noise)) for s in gaussian]
    out += [Condition(f"disc {s:g}", Degradation("disc", float(s), noise=noise)) for s in disc]
    out += [Condition(f"astigmatic {s:g}", Degradation("astigmatic", float(s), ASTIGMATIC_MINOR, ASTIGMATIC_ANGLE,
                                                       noise)) for s in astigmatic]
    return out


def sharp_frames(data: str, names: list[str]) -> dict[str, np.ndarray]:
    """Each named micrograph's in-focus exposure, gray [0, 1], info bar cut."""
    found = {name: sharp for name, _, sharp in find_pairs(data)}
    frames = {}
    for name in names:
        gray = to_gray_float(read_image(found[name]).array)
        rows = resolve_infobar("auto", gray)
        frames[name] = gray[: gray.shape[0] - rows] if rows else gray
    return frames


@dataclass(frozen=True)
class Score:
    micrograph: str
    condition: str
    seed: int
    method: str  # "input" or a restorer's label
    psnr: float
    ssim: float


def score_micrograph(name: str, sharp: np.ndarray, columns: list[Condition], seeds: Sequence[int],
                     restorers: dict[str, Callable[[np.ndarray], np.ndarray]],
                     on_done: Callable[[], None] | None = None) -> list[Score]:
    """Every (condition, seed, method) of one micrograph; the in-focus condition has one seed (no noise), the first."""
    reference = np.round(sharp * 255).astype(np.uint8)
    scores = []
    for column in columns:
        for seed in (seeds[:1] if column.degradation is None else seeds):
            given = column.input_for(sharp, seed)
            outputs = {"input": given, **{label: restore(given) for label, restore in restorers.items()}}
            for label, image in outputs.items():
                scores.append(Score(name, column.name, seed, label, psnr(reference, image, 255.0),
                                    ssim(reference, image, 255.0)))
            if on_done is not None:
                on_done()
    return scores


def gains(scores: list[Score], method: str) -> dict[tuple[str, str], float]:
    """(micrograph, condition) -> the method's PSNR gain over the input, averaged over the noise seeds.

    The in-focus condition has none: its input is the reference (infinite PSNR).
    """
    by_key: dict[tuple[str, str, int], dict[str, float]] = {}
    for s in (s for s in scores if s.condition != IN_FOCUS):
        by_key.setdefault((s.micrograph, s.condition, s.seed), {})[s.method] = s.psnr
    sums: dict[tuple[str, str], list[float]] = {}
    for (name, condition, _), row in by_key.items():
        if method in row:
            sums.setdefault((name, condition), []).append(row[method] - row["input"])
    return {key: float(np.mean(v)) for key, v in sums.items()}
