"""How to restore, as one value: what `midnet deblur`, `midnet watch` and `midnet serve` share.

A :class:`RestoreSettings` holds every choice a user makes about a restoration (model,
method, engine, tiles, info bar, test-time augmentation, triage) with one set of defaults.
The command line builds one from its options; :class:`midnet.pipeline.FramePipeline` turns
one into a restorer and the per-frame wiring around it.

This module imports only midnet/choices.py and midnet/errors.py: a settings value is made
before any command decides to load torch (``midnet --help`` must stay instant).
"""

from __future__ import annotations

from dataclasses import dataclass

from .choices import DEFAULT_ENGINE, DEFAULT_MODEL, ENGINE_NAMES, METHODS, NETWORK, PRECISIONS
from .errors import MidnetError

MIN_TILE = 32  # smaller tiles leave the network no context (the command line's --tile lower bound)


@dataclass(frozen=True)
class RestoreSettings:
    """Everything that decides how a frame is restored; frozen, so one value can be shared by threads and workers.

    ``infobar`` is "auto", "none" or a number of rows kept untouched; ``tile`` None is automatic;
    ``engine`` and ``precision`` "auto" are settled when the restorer is made (midnet/engine_choice.py);
    ``uncertainty`` implies the eight-view average; ``blur_threshold`` (px) only matters with ``only_blurry``.
    """

    model: str = DEFAULT_MODEL
    method: str = NETWORK
    calibration: str | None = None
    infobar: int | str = "auto"
    tile: int | None = None
    overlap: int = 128
    device: str = "auto"
    engine: str = DEFAULT_ENGINE
    precision: str = "auto"
    tta: bool = False
    uncertainty: bool = False
    only_blurry: bool = False
    blur_threshold: float | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:  # every problem at once, on one line: a user fixes them in one go
            raise MidnetError("restore settings: " + "; ".join(problems))

    @property
    def restorer_engine(self) -> str:
        """The engine the restorer is made with: a classical method runs in NumPy, so engines mean nothing to it."""
        return self.engine if self.method == NETWORK else "torch"

    @property
    def views(self) -> bool:
        """Whether the eight flips and rotations are averaged (--uncertainty measures their spread)."""
        return self.tta or self.uncertainty

    @property
    def network(self) -> str | None:
        """The network's model name, or None for a classical method (no model, no training domain)."""
        return self.model if self.method == NETWORK else None


def _problems(s: RestoreSettings) -> list[str]:
    """Why ``s`` cannot be used, one phrase each (empty when it can)."""
    problems = []
    if s.method not in METHODS:
        problems.append(f"method {s.method!r} is not one of {', '.join(METHODS)}")
    if s.engine not in ("auto", *ENGINE_NAMES):
        problems.append(f"engine {s.engine!r} is not one of auto, {', '.join(ENGINE_NAMES)}")
    if s.precision not in PRECISIONS:
        problems.append(f"precision {s.precision!r} is not one of {', '.join(PRECISIONS)}")
    if s.tile is not None and (isinstance(s.tile, bool) or not isinstance(s.tile, int) or s.tile < MIN_TILE):
        problems.append(f"tile {s.tile!r} must be a whole number of pixels >= {MIN_TILE}, or None (automatic)")
    if isinstance(s.overlap, bool) or not isinstance(s.overlap, int) or s.overlap < 0:
        problems.append(f"overlap {s.overlap!r} must be a whole number of pixels >= 0")
    if not (s.infobar in ("auto", "none") or (isinstance(s.infobar, int) and not isinstance(s.infobar, bool)
                                               and s.infobar >= 0)):
        problems.append(f"infobar {s.infobar!r} must be auto, none or a number of rows >= 0")
    if s.blur_threshold is not None and not s.blur_threshold >= 0:
        problems.append(f"blur_threshold {s.blur_threshold!r} must be >= 0 px")
    return problems
