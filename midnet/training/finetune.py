"""``midnet finetune``: adapt a trained model to a lab's own one to three pairs, in minutes on a CPU.

What it does, in order (the ``minutes`` budget is the training's: it starts at the first
training step, so that loading and registering on a busy machine cannot use it up):
1. loads and registers the pairs exactly as training does (affine by default), checks that
   every training pair holds a crop, and refuses a budget too short to train and score;
2. holds out a part to judge by: one micrograph when there are several (the last by
   name), or, with a single pair, a strip along the far end of its longer side, at least
   one crop side away from every training crop (crops are drawn from the rest only) and
   scored as its own frame, since the network pools each channel over the whole image;
3. scores the blurry input and the base model on the held-out part;
4. trains from the base model's weights with a fine-tuning schedule (a fifth of the
   from-scratch learning rate, cosine-annealed over the steps the budget allows, measured
   from the first steps), scores the held-out part every ``val_every`` steps, keeps the
   best weights and stops early when ``patience`` scores in a row bring nothing;
5. writes the best weights (a normal midnet weights file: every command takes it), which
   record the micrographs they saw, the base's included, and their domain as ``midnet train``
   records it (:func:`midnet.quality.domain.of_training`). When no held-out score beat the base
   model's, nothing was learned: it writes nothing and raises :class:`NothingLearned`.

It trains with ``midnet train``'s pieces: the step (:func:`midnet.training.step.scheduled_step`),
the cosine schedule (:class:`midnet.training.schedule.CosineSchedule`, its length set once the
step time is known) and the scoring of held-out micrographs (:func:`midnet.quality.evaluate.score_pairs`).
What is its own: the time budget, the held-out split, keeping the best weights in memory and
the refusal when nothing was learned.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..quality import domain
from ..data import Pair, load_pairs, sample_batch
from ..errors import MidnetError
from ..quality.evaluate import score_pairs
from .losses import LossConfig, RestorationLoss
from ..images.publish import check_writable
from ..models.weights import TRAINED_ON_KEY, save_model
from ..models.zoo import DEFAULT_MODEL, load_model, metadata_of, trained_on
from .schedule import CosineSchedule
from .step import scheduled_step


class FinetuneConfig(BaseModel):
    """The settings of a fine-tuning run (defaults chosen for 1-3 pairs on a CPU)."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(DEFAULT_MODEL, description="Preset with shipped weights, or a weights file, to start from.")
    minutes: float = Field(10.0, gt=0, le=10_000, description="Training time, from the first training step.")
    lr: float = Field(2e-4, gt=0, le=1, description="Initial learning rate (a fifth of training from scratch).")
    lr_min: float = Field(1e-6, ge=0, le=1, description="Learning rate at the end of the cosine schedule.")
    crop: int = Field(192, ge=32, le=2048, description="Training crop side, pixels.")
    batch: int = Field(4, ge=1, le=256, description="Crops per step.")
    max_steps: int = Field(3000, ge=1, le=1_000_000, description="Steps at most, however long the budget.")
    val_every: int = Field(25, ge=1, le=100_000, description="Score the held-out part every this many steps.")
    patience: int = Field(6, ge=1, le=1000, description="Stop after this many scores without a gain.")
    min_gain_db: float = Field(0.01, ge=0, le=10, description="A held-out gain smaller than this is no gain.")
    align: str = Field("affine", pattern="^(affine|shift|none)$", description="Registration of each pair.")
    infobar: int | str = Field("auto", description="Info bar rows at the bottom, or auto/none.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the crops.")
    loss: LossConfig = Field(default_factory=LossConfig, description="Loss terms and weights (training's).")


@dataclass
class HeldOut:
    pairs: list[Pair]
    train: list[Pair]
    description: str


@dataclass
class FinetuneResult:
    """The held-out table (input, base, fine-tuned) and what the run did."""

    held_out: str
    rows: dict[str, tuple[float, float]]  # label -> (PSNR dB, SSIM), means over the held-out part
    steps: int
    best_step: int
    stopped: str
    weights: Path | None  # None: nothing was learned, nothing written (see NothingLearned)
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, held-out PSNR)


class NothingLearned(MidnetError):
    """No held-out score beat the base model's: no weights were written. ``result`` holds the table and the run."""

    def __init__(self, message: str, result: FinetuneResult):
        super().__init__(message)
        self.result = result


def split_held_out(pairs: list[Pair], crop: int) -> HeldOut:
    """One micrograph out when there are several; with one pair, a far strip one crop side from any training crop."""
    if len(pairs) > 1:
        held = pairs[-1]
        return HeldOut([held], pairs[:-1], f"micrograph {held.name} (the last by name)")
    pair = pairs[0]
    h, w = pair.blur.shape
    long_side = max(h, w)
    strip = max(long_side // 4, crop)
    if long_side - strip - crop < crop or min(h, w) < crop:
        raise MidnetError(f"{pair.name}: {w}x{h} is too small to hold out a strip and train beside it with "
                          f"{crop}px crops; give a second pair or a smaller --crop")
    if w >= h:
        held = _part(pair, slice(None), slice(w - strip, w), "held-out")
        train = _part(pair, slice(None), slice(0, w - strip - crop), "train")
        where = f"the right {strip} columns of {pair.name}"
    else:
        held = _part(pair, slice(h - strip, h), slice(None), "held-out")
        train = _part(pair, slice(0, h - strip - crop), slice(None), "train")
        where = f"the bottom {strip} rows of {pair.name}"
    return HeldOut([held], [train], f"{where}, {crop} px from every training crop")


def _part(pair: Pair, rows: slice, cols: slice, label: str) -> Pair:
    return replace(pair, name=f"{pair.name} ({label})", blur=pair.blur[rows, cols].copy(),
                   sharp=pair.sharp[rows, cols].copy(), transform=None)


def _mean_scores(net, pairs: list[Pair]) -> tuple[float, float, float, float]:
    """(PSNR, SSIM) of ``net``'s restoration and of the blurry input, averaged over ``pairs``: training's
    validation score (exact, torch fp32), on parts already registered."""
    result = score_pairs(net, pairs, align=False)["mean"]
    return result["psnr"], result["ssim"], result["input_psnr"], result["input_ssim"]


class _Budget:
    """The training's wall time: started at the first training step, not before the pairs are loaded."""

    def __init__(self, minutes: float):
        self.minutes = minutes
        self.start = time.monotonic()
        self.end = self.start + 60.0 * minutes

    def left(self) -> float:
        return self.end - time.monotonic()


def finetune(data: str | os.PathLike, output: str | os.PathLike, config: FinetuneConfig | None = None,
             overwrite: bool = False, echo: Callable[[str], None] = print, progress: bool = True) -> FinetuneResult:
    """Fine-tune ``config.base`` on the pairs in ``data`` and write the best weights to ``output``.

    Raises :class:`NothingLearned` (and writes nothing) when no held-out score beat the base model's.
    """
    config = config or FinetuneConfig()
    output = Path(output)
    if output.exists() and not overwrite:
        raise MidnetError(f"{output} exists; choose another -o or pass --overwrite")
    if output.suffix != ".safetensors":
        raise MidnetError(f"{output}: weights are written as .safetensors; name the file NAME.safetensors")
    check_writable(output)  # before the pairs are loaded and scored, not after
    base = load_model(config.base)  # the shared cached module: copied below, never trained
    echo(f"loading and registering the pairs of {data} ({config.align})...")
    pairs = load_pairs(data, config.infobar, align=config.align, warn_shift=False)
    split = split_held_out(pairs, config.crop)
    _check_crop(split.train, config.crop)
    # measured before training (a fault here costs no training), as `midnet train` measures its own
    ranges = domain.of_training(pairs, base=domain.domain_from_metadata(metadata_of(config.base)))
    echo(f"held out: {split.description}; training on {', '.join(p.name for p in split.train)}")
    started = time.monotonic()
    base_psnr, base_ssim, in_psnr, in_ssim = _mean_scores(base, split.pairs)
    eval_seconds = time.monotonic() - started  # what each held-out score will cost
    _check_budget(config.minutes, eval_seconds)
    net = copy.deepcopy(base).train()
    for p in net.parameters():
        p.requires_grad_(True)
    state = _Session(config, net, split, _Budget(config.minutes), (base_psnr, base_ssim))
    state.run(echo, progress, eval_seconds)
    rows = {"blurry input": (in_psnr, in_ssim), "base model": (base_psnr, base_ssim)}
    if state.best_step == 0:
        result = FinetuneResult(split.description, rows, state.step, 0, state.stopped, None, state.history)
        raise NothingLearned(_nothing_learned(state, output), result)
    net.load_state_dict(state.best_state)
    _save(net, output, config, pairs, ranges, state, overwrite)
    rows["fine-tuned"] = (state.best_psnr, state.best_ssim)
    return FinetuneResult(split.description, rows, state.step, state.best_step, state.stopped, output, state.history)


def _check_crop(train: list[Pair], crop: int) -> None:
    """Every training pair holds a crop: said before the base is scored, with the option's own name."""
    for p in train:
        h, w = p.blur.shape
        if min(h, w) < crop:
            fix = (f"give a --crop of at most {min(h, w)}" if min(h, w) >= 32 else
                   "give pairs at least 32 px a side (the smallest --crop)")
            raise MidnetError(f"{p.name}: {w}x{h} is smaller than the {crop} px training crop (--crop); {fix}")


def _check_budget(minutes: float, eval_seconds: float) -> None:
    """Refuse a budget that cannot hold training steps and a held-out score: it could only write the base again."""
    if 60.0 * minutes < 2.0 * eval_seconds:
        enough = math.ceil(eval_seconds * 4.0 / 6.0) / 10.0  # four scores' time, in tenths of a minute
        raise MidnetError(f"--minutes {minutes:g} is too short to train: one score of the held-out part takes "
                          f"{eval_seconds:.0f} s here, and the budget must hold training steps and at least one "
                          f"score; give --minutes {max(enough, 0.2):g} or more")


def _nothing_learned(state: "_Session", output: Path) -> str:
    base = state.history[0][1]
    if len(state.history) == 1:  # the budget ran out before a single score after training
        why = (f"the --minutes {state.budget.minutes:g} budget allowed {state.step} training steps and no held-out "
               "score after them; give more --minutes")
    else:
        why = (f"none of {len(state.history) - 1} held-out scores in {state.step} steps beat the base model's "
               f"{base:.2f} dB by {state.config.min_gain_db:g} dB ({state.stopped}); the base model already suits "
               "these pairs, or they are too few: add pairs, or keep the base model")
    return f"nothing was learned: {why}; {output} was not written"


class _Session:
    """The training loop of a fine-tuning run: steps, held-out scores, the best weights, the stop."""

    def __init__(self, config: FinetuneConfig, net, split: HeldOut, budget: _Budget, base: tuple[float, float]):
        self.config, self.net, self.split, self.budget = config, net, split, budget
        self.criterion = RestorationLoss(config.loss)
        self.optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        self.scheduler = CosineSchedule(self.optimizer, total=config.max_steps, lr_min=config.lr_min)
        self.best_psnr, self.best_ssim, self.best_step = base[0], base[1], 0  # the base is the score to beat
        self.best_state = copy.deepcopy(net.state_dict())
        self.step, self.stale, self.planned = 0, 0, config.max_steps
        self.history: list[tuple[int, float]] = [(0, base[0])]
        self.stopped = "step limit"

    def run(self, echo: Callable[[str], None], progress: bool, eval_seconds: float) -> None:
        from tqdm import tqdm

        bar = tqdm(total=self.planned, desc="finetune", unit="step", disable=None if progress else True)
        try:
            while self.step < self.planned:
                t0 = time.monotonic()
                self._one_step()
                step_seconds = time.monotonic() - t0
                if self.step == 3:  # plan the schedule from the measured step time
                    self._plan(step_seconds, eval_seconds, bar)
                bar.update(1)
                if self.step % self.config.val_every == 0 and self._validate(bar):
                    break
                if self.budget.left() < eval_seconds + step_seconds:  # room left for the last score only
                    self.stopped = "time budget"
                    break
        finally:
            bar.close()
        if self.history[-1][0] != self.step:
            self._validate(None)  # the last steps count too: the budget kept the time to score them
        echo(f"stopped after {self.step} steps ({self.stopped}); best held-out PSNR at step {self.best_step}")

    def _one_step(self) -> None:
        c = self.config
        x, y = sample_batch(self.split.train, c.batch, c.crop, c.seed, self.step)
        scheduled_step(self.net, self.criterion, self.optimizer, self.scheduler, x, y)
        self.step += 1

    def _plan(self, step_seconds: float, eval_seconds: float, bar) -> None:
        per_step = step_seconds + eval_seconds / self.config.val_every
        affordable = int((self.budget.left() - eval_seconds) / per_step) + self.step
        self.planned = max(self.step + 1, min(self.config.max_steps, affordable))
        self.scheduler.total = self.planned  # the cosine ends where the budget does
        if self.planned < self.config.max_steps:
            self.stopped = "time budget"  # what ends the run if nothing else does first
        bar.total = self.planned
        bar.refresh()

    def _validate(self, bar) -> bool:
        """Score the held-out part; keep the best weights. True when patience has run out."""
        psnr_db, ssim_value, _, _ = _mean_scores(self.net, self.split.pairs)
        self.history.append((self.step, psnr_db))
        if psnr_db > self.best_psnr + self.config.min_gain_db:
            self.best_psnr, self.best_ssim, self.best_step = psnr_db, ssim_value, self.step
            self.best_state = copy.deepcopy(self.net.state_dict())
            self.stale = 0
        else:
            self.stale += 1
        if bar is not None:
            bar.set_postfix(held_out=f"{psnr_db:.2f} dB", best=f"{self.best_psnr:.2f}")
        if self.stale >= self.config.patience:
            self.stopped = f"no held-out gain in {self.stale} scores"
            return True
        return False


def _save(net, output: Path, config: FinetuneConfig, pairs: list[Pair], ranges: dict[str, list[float]],
          state: _Session, overwrite: bool) -> None:
    seen = sorted(set(trained_on(metadata_of(config.base))) | {p.name for p in pairs})
    metadata = {TRAINED_ON_KEY: json.dumps(seen), domain.DOMAIN_KEY: json.dumps(ranges),
                "midnet.finetune": config.model_dump_json(),
                "midnet.finetune_result": json.dumps({"best_step": state.best_step, "steps": state.step})}
    output.parent.mkdir(parents=True, exist_ok=True)
    save_model(net.eval(), output, metadata=metadata, replace=overwrite)
