"""Is a micrograph like the ones a model was trained on?

A network restores what resembles its training data and can invent detail elsewhere, so
``midnet deblur`` says when an input lies far outside it and suggests ``midnet finetune``.
Each frame is described by a few numbers that do not depend on how its intensities are
stored (midnet/images/intensity.py normalises them away, as the network's input is):

- ``noise``: the noise level on the network's scale (Immerkaer's fast estimate, 1996:
  the mean absolute response to a mask that cancels planes and ramps, so the specimen's
  own smooth structure counts little);
- ``levels``: how many of the file's grey levels lie between the frame's 1st and 99.8th
  percentiles (a frame using 20 levels of 255 is coarsely quantised or very low contrast;
  only too few count: finer quantisation than in training is no risk);
- ``clipped``: the fraction of pixels at the container's darkest or brightest value
  (saturated detector, crushed blacks);
- ``blur_px``: the equivalent Gaussian blur width in pixels (midnet/quality/blur.py), where its
  confidence is at least ``MIN_BLUR_CONFIDENCE``.

A model's domain is the range of each number over its training frames, recorded in its
weights file (``midnet.domain``). A frame is outside when a number leaves that range by
more than a stated factor (``SLACK``): the ranges come from few micrographs, so only large
departures are reported.
"""

from __future__ import annotations

import json
import math

import numpy as np
from scipy import ndimage

from ..images import intensity
from .blur import estimate
from ..errors import MidnetError
from ..images.infobar import InfobarSpec, resolve_infobar
from ..images.io import dtype_range, to_gray_float

DOMAIN_KEY = "midnet.domain"
# how far outside the training range a measure may go before it counts (ratio, or added fraction)
SLACK = {"noise": 2.0, "levels": 2.0, "blur_px": 1.5, "clipped": 0.02}
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
MIN_BLUR_CONFIDENCE = 0.5  # a blur width the focus score doubts says nothing about the domain
_MAX_SIDE = 2048  # measures come from a centre crop at most this big: enough statistics, bounded cost


MIN_CHECKED_SIDE = 16  # midnet.inference.restore.MIN_SIDE: smaller frames are refused, not restored, so not described


def noise_sigma(values: np.ndarray) -> float:
    """Immerkaer's estimate of additive noise's standard deviation."""
    response = ndimage.convolve(np.asarray(values, np.float32), _IMMERKAER, mode="nearest")[1:-1, 1:-1]
    return float(np.mean(np.abs(response), dtype=np.float64) * math.sqrt(math.pi / 2) / 6)


def _centre(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    top, left = max(0, (h - _MAX_SIDE) // 2), max(0, (w - _MAX_SIDE) // 2)
    return gray[top : top + _MAX_SIDE, left : left + _MAX_SIDE]


def describe(gray: np.ndarray, full_scale: float) -> dict[str, float]:
    """The domain measures of a gray frame on its file's [0, 1] scale (info bar excluded).

    ``full_scale`` is the number of grey levels of the file's container minus one (255 for
    8 bits; 1.0 for float files, whose levels are not counted).
    """
    crop = _centre(gray)
    scale = intensity.measure(crop)
    described = {"noise": noise_sigma(scale.forward(crop))}
    if full_scale > 1:  # integer files: a container with extremes and countable levels
        half_level = 0.5 / full_scale  # the container's extremes, whatever the float rounding of the gray
        described["clipped"] = float(np.mean((crop <= half_level) | (crop >= 1.0 - half_level)))
        described["levels"] = float(scale.span * full_scale)
    blur = _blur_px(crop)
    if blur is not None:
        described["blur_px"] = blur
    return described


def describe_image(array: np.ndarray, infobar: InfobarSpec | None = "auto") -> dict[str, float]:
    """:func:`describe` of a micrograph as read from its file (any dtype and layout; info bar excluded)."""
    frame = np.asarray(array)
    rows = resolve_infobar(infobar, frame)
    return describe(to_gray_float(frame[: frame.shape[0] - rows]), dtype_range(frame.dtype))


def _blur_px(gray: np.ndarray) -> float | None:
    """midnet/quality/blur.py's equivalent Gaussian blur, where it is confident (else the measure is left out, as it is
    for a frame too small to measure: the other measures still describe it)."""
    try:
        measured = estimate(gray)
    except MidnetError:
        return None
    return measured.blur_px if measured.confidence >= MIN_BLUR_CONFIDENCE else None


def fit(descriptions: list[dict[str, float]]) -> dict[str, list[float]]:
    """The range [min, max] of every measure over the training frames."""
    keys = set.intersection(*(set(d) for d in descriptions)) if descriptions else set()
    return {k: [min(d[k] for d in descriptions), max(d[k] for d in descriptions)] for k in sorted(keys)}


def of_training(pairs, in_focus: bool = False, base: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """The domain that weights trained on ``pairs`` record (``midnet train``, ``midnet finetune`` and
    scripts/ship_model.py all take it from here).

    It is the range of each measure over the pairs' blurry frames, and over their in-focus
    exposures too when ``in_focus`` (a recipe with synthetic pairs trains on every blur width
    from none, so an in-focus micrograph is no stranger to it), widened by ``base``, the
    domain of the weights training started from: the model still knows its base's micrographs.
    ``pairs`` are :class:`midnet.data.Pair` (``blur``, ``sharp``, ``full_scale``).
    """
    frames = [(p.blur, p.full_scale) for p in pairs] + ([(p.sharp, p.full_scale) for p in pairs] if in_focus else [])
    ranges = fit([describe(frame, full_scale) for frame, full_scale in frames])
    for key, (low, high) in (base or {}).items():
        if key in ranges:
            ranges[key] = [min(low, ranges[key][0]), max(high, ranges[key][1])]
    return ranges


def departures(described: dict[str, float], domain: dict[str, list[float]]) -> list[str]:
    """Why a frame lies outside ``domain``: one short phrase per measure, empty when inside."""
    reasons = []
    for key, (low, high) in domain.items():
        if key not in described:
            continue
        value, slack = described[key], SLACK.get(key, 2.0)
        if key == "clipped":
            if value > high + slack:
                reasons.append(f"{value:.0%} of pixels clipped (training: at most {high:.0%})")
        elif value > high * slack and key != "levels":  # finer quantisation than in training is no risk
            reasons.append(f"{key} {value:.3g} above the training range {low:.3g}-{high:.3g}")
        elif value < low / slack:
            reasons.append(f"{key} {value:.3g} below the training range {low:.3g}-{high:.3g}")
    return reasons


def domain_from_metadata(metadata: dict[str, str]) -> dict[str, list[float]] | None:
    """The domain a weights file records, or None for files that record none."""
    raw = metadata.get(DOMAIN_KEY)
    try:
        ranges = json.loads(raw) if raw else None
        return {str(k): [float(v[0]), float(v[1])] for k, v in ranges.items()} if ranges else None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):  # a damaged record: no check, no crash
        return None


class DomainWatch:
    """Checks each input of a batch against a model's domain; says once, at the end, which lie outside."""

    def __init__(self, domain: dict[str, list[float]], model: str, infobar: InfobarSpec | None = "auto"):
        self.domain, self.model, self.infobar = domain, model, infobar
        self.outside: list[tuple[int, list[str]]] = []  # (input number, reasons)
        self.seen = 0

    @classmethod
    def for_model(cls, model: str, infobar: InfobarSpec | None = "auto") -> "DomainWatch | None":
        from ..models.zoo import metadata_of

        domain = domain_from_metadata(metadata_of(model))
        return cls(domain, model, infobar) if domain else None

    def check(self, frame: np.ndarray, rows: int | None = None) -> None:
        """Describe one more frame and note whether it lies outside the domain. ``rows``: its info bar, resolved
        once for the whole frame pipeline (midnet/pipeline.py); None: this watch resolves its ``infobar``."""
        self.seen += 1
        if min(np.shape(frame)[:2]) < MIN_CHECKED_SIDE:  # the restoration refuses it in one line; numpy's
            return  # "Mean of empty slice" about its empty centre must not come first
        try:
            reasons = departures(describe_image(frame, self.infobar if rows is None else rows), self.domain)
        except ValueError:  # the restoration reports a frame it cannot handle; this check stays silent
            return
        if reasons:
            self.outside.append((self.seen, reasons))

    def fresh(self) -> "DomainWatch":
        """The same domain with nothing seen yet."""
        return DomainWatch(self.domain, self.model, self.infobar)

    def record(self) -> list[list]:
        """[frame number, reasons] of each frame found outside, numbered from 1 (for a report line: this
        watch saw one file's frames)."""
        return [[number, reasons] for number, reasons in self.outside]

    def add_file(self, frames: int, outside: list[list]) -> None:
        """Count another process's file: its ``frames``, and ``outside`` as :meth:`record` gave it there."""
        self.outside += [(self.seen + number, reasons) for number, reasons in outside]
        self.seen += frames

    def summary(self) -> str:
        """One line: the frames that look already sharp (pointing to ``--only-blurry``), then the others."""
        sharp = [reasons for _, reasons in self.outside if any(map(already_sharp, reasons))]
        other = [reasons for _, reasons in self.outside if not any(map(already_sharp, reasons))]
        parts = []
        if sharp:  # not a domain the network should be adapted to: a frame that needs no restoring
            parts.append(f"{len(sharp)} of {self.seen} frames look already sharp, sharper than the micrographs "
                         f"{self.model} was trained on (e.g. {'; '.join(sharp[0])}): restoring an in-focus frame "
                         "can only invent detail; `midnet deblur --only-blurry` restores only the frames the focus "
                         "score finds blurry")
        if other:
            parts.append(f"{len(other)} of {self.seen} frames look unlike the micrographs {self.model} was trained "
                         f"on (e.g. {'; '.join(other[0])}); check its output closely, or adapt it to your micrographs "
                         "with `midnet finetune PAIRS -o WEIGHTS`")
        return "; ".join(parts)


def already_sharp(reason: str) -> bool:
    """Whether a reason of :func:`departures` says the frame is less blurred than any the model was trained on
    (a reason is text: it travels from a cluster's workers as it is)."""
    return reason.startswith("blur_px ") and " below " in reason
