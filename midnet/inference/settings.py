"""How to restore, as one value: what the library, the command line, napari, Dask and the server share.

A :class:`RestoreSettings` holds every choice a user makes about a restoration (model,
method, engine, tiles, info bar, test-time augmentation, triage) with one set of defaults:
:func:`midnet.deblur` takes its fields as keywords, :func:`midnet.inference.restore.make_restorer`
takes one, the command line's options are made from its defaults (midnet/cli/options.py),
and napari's form, the Dask workers' spec and the server's configuration each build one.
:meth:`RestoreSettings.resolved` settles ``engine`` and ``precision`` (``auto`` included)
once, when the restorer is made; the restorer keeps the settled value and its provenance
reads it. Evaluation, comparison and training ask for :meth:`RestoreSettings.exact`.

At import, this module loads only midnet/choices.py and midnet/errors.py: a settings value
is made before any command decides to load torch (``midnet --help`` must stay instant).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..choices import DEFAULT_ENGINE, DEFAULT_MODEL, ENGINE_NAMES, METHODS, NETWORK, PRECISIONS
from ..errors import MidnetError

if TYPE_CHECKING:
    from torch import nn

    from .engine_choice import Choice

MIN_TILE = 32  # smaller tiles leave the network no context (the command line's --tile lower bound)
EXACT = {"engine": "torch", "precision": "fp32"}  # the network itself in fp32: the same result on every CPU


@dataclass(frozen=True)
class RestoreSettings:
    """Everything that decides how a frame is restored; frozen, so one value can be shared by threads and workers.

    ``model`` is a preset name, a weights file (or a BMZ package .zip), or, from Python, a network
    module (never changed: the restorer runs its own copy; ``device`` "auto" keeps it where it is);
    ``calibration`` is a classical method's calibration JSON (or its parameters); ``infobar`` is
    "auto", "none" or a number of rows kept untouched; ``tile`` None is automatic; ``engine`` and
    ``precision`` "auto" take the fastest engine and number format measured here at equal quality
    (midnet/inference/engine_choice.py), settled by :meth:`resolved`; ``uncertainty`` implies the eight-view
    average; ``only_blurry`` and ``blur_threshold`` (px) select the files worth restoring
    (midnet/quality/focus.py), so they mean nothing to one array.
    """

    model: str | nn.Module = DEFAULT_MODEL
    method: str = NETWORK
    calibration: Any = None  # str | Path | midnet.inference.classical.ClassicalParams | None
    infobar: int | str = "auto"
    tile: int | None = None
    overlap: int = 128
    device: Any = "auto"  # a name (auto, cpu, cuda, cuda:N, mps) or a torch.device
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

    @classmethod
    def exact(cls, **fields) -> RestoreSettings:
        """Settings with ``engine="torch", precision="fp32"``: what evaluation, comparison and training measure
        with, so that a score never depends on which engine a machine finds fastest."""
        return cls(**{**fields, **EXACT})

    def replace(self, **fields) -> RestoreSettings:
        """A copy with ``fields`` changed (checked again)."""
        return dataclasses.replace(self, **fields)

    @property
    def views(self) -> bool:
        """Whether the eight flips and rotations are averaged (--uncertainty measures their spread)."""
        return self.tta or self.uncertainty

    @property
    def network(self) -> str | nn.Module | None:
        """The network's model (name, file or module), or None for a classical method (no model, no domain)."""
        return self.model if self.method == NETWORK else None

    @property
    def is_settled(self) -> bool:
        """Whether engine and precision name what runs (no ``auto`` left): what :meth:`resolved` gives."""
        return self.engine != "auto" and self.precision != "auto"

    def resolved(self, network: nn.Module | None = None) -> tuple[RestoreSettings, Choice | None]:
        """(these settings with ``engine`` and ``precision`` settled, what ``engine="auto"`` measured or read).

        ``network`` is the module that will run (its device decides what ``precision="auto"`` means;
        ``engine="auto"`` times it); None for a classical method, which runs in NumPy: its engine and
        precision are pinned to torch and fp32, so that they never make two equal restorations differ.
        The choice is None unless ``engine`` was ``auto``.
        """
        if self.network is None:
            return self.replace(**EXACT), None
        if network is None:
            raise MidnetError("settling a network's engine and precision needs the network")
        from .engine_choice import settle

        engine, precision, choice = settle(network, self.engine, self.precision)
        return self.replace(engine=engine, precision=precision), choice


def _problems(s: RestoreSettings) -> list[str]:
    """Why ``s`` cannot be used, one phrase each (empty when it can)."""
    problems = []
    if s.method not in METHODS:
        problems.append(f"method {s.method!r} is not one of {', '.join(METHODS)}")
    if s.method == NETWORK and not (isinstance(s.model, str) or callable(s.model)):
        problems.append(f"model {s.model!r} must be a preset name, a weights file or a network module")
    if s.calibration is not None and isinstance(s.calibration, (str, Path)) and not str(s.calibration):
        problems.append("calibration must name a file (or be None: the built-in parameters)")
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
