"""The micrographs a run trains and validates on, loaded with a line per pair.

Reading and registering a pair takes seconds (the affine fit matches patches on a grid),
so seven pairs kept ``midnet train`` silent for its first minute: every pair now says
what is being done to it before it starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..quality import domain
from ..data import Pair, find_pairs, load_pairs, split_names
from ..data.paper_protocol import LEAK_WARNING, paper_split
from .config import DataSection, TrainConfig


@dataclass
class TrainingData:
    pairs: list[Pair]  # what batches are cropped from
    val_pairs: list[Pair]  # scored whole at each validation
    train_names: list[str]  # for the start line
    val_names: list[str]
    trained_on: list[str]  # the micrographs whose pixels training sees (recorded in every weights file)


def load_training_data(data: DataSection, seed: int, echo: Callable[[str], None]) -> TrainingData:
    """The run's pairs, split by micrograph (or the paper's leaking tile split), with progress on ``echo``."""
    names = [name for name, _, _ in find_pairs(data.path)]
    if data.protocol == "paper":
        echo(f"loading {len(names)} pairs from {data.path}, registering them (affine) and cutting the paper's tiles...")
        pairs, val_pairs = paper_split(data.path, data.infobar, seed)
        # tiles of every micrograph are in training: all of them count as seen
        return TrainingData(pairs, val_pairs, ["paper tiles"], [f"{len(val_pairs)} random tiles ({LEAK_WARNING})"],
                            names)
    train_names, val_names = split_names(names, data.val_names, data.folds, data.fold)
    loaded = _load_one_by_one(data, [n for n in names if n in train_names or n in val_names], val_names, echo)
    # the order of find_pairs, as one load_pairs call gave: batches index into this list
    pairs = [p for p in loaded if p.name in train_names]
    val_pairs = [p for p in loaded if p.name in val_names]
    return TrainingData(pairs, val_pairs, train_names, val_names, sorted(train_names))


def _load_one_by_one(data: DataSection, names: list[str], val_names: list[str],
                     echo: Callable[[str], None]) -> list[Pair]:
    doing = "reading" if data.align == "none" else f"reading and registering ({data.align})"
    echo(f"loading {len(names)} pairs from {data.path}...")
    t0, loaded = time.time(), []
    for i, name in enumerate(names, 1):
        echo(f"  [{i}/{len(names)}] {name}: {doing}...")
        # a shifted pair hurts training, not validation (scoring registers it): warn for training pairs only
        loaded += load_pairs(data.path, data.infobar, [name], align=data.align, warn_shift=name not in val_names)
    echo(f"loaded {len(names)} pairs in {time.time() - t0:.0f} s")
    return loaded


def training_domain(config: TrainConfig, pairs: list[Pair], first_weights: dict[str, str]) -> dict[str, list[float]]:
    """The domain a run's weights record (:func:`midnet.quality.domain.of_training`, as fine-tuning's): its training
    frames, their in-focus exposures too when synthetic pairs are drawn from them, widened by the domain the
    metadata of its first weights (``model.init_from``; {} from scratch) records."""
    return domain.of_training(pairs, config.data.synthetic.share > 0, domain.domain_from_metadata(first_weights))


def validation_warnings(config: TrainConfig, data: TrainingData) -> list[str]:
    """Settings that make a run validate never, or far less often than it looks."""
    if not data.val_pairs:
        return ["nothing is held out for validation (set data.val_names or data.folds): the run reports no "
                "validation score and writes no best.safetensors"]
    if config.val_every > config.iterations:
        return [f"val_every ({config.val_every}) exceeds iterations ({config.iterations}): validation runs only "
                "once, after the last step"]
    return []
