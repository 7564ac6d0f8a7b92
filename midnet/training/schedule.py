"""The learning-rate schedule of training and fine-tuning: one cosine from ``lr`` down to ``lr_min``.

``midnet train`` anneals over its ``iterations``; ``midnet finetune`` over the steps its time
budget allows, which it measures after the first steps and then sets as :attr:`CosineSchedule.total`.
"""

from __future__ import annotations

import math

import torch


def cosine(step: int, total: int, lr: float, lr_min: float) -> float:
    """The learning rate after ``step`` of ``total`` steps: half a cosine from ``lr`` to ``lr_min``, then flat."""
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


class CosineSchedule(torch.optim.lr_scheduler.LRScheduler):
    """:func:`cosine` as a PyTorch scheduler: ``step()`` after each optimizer step sets the next step's rate.

    Its state (the step count and ``total``) travels in checkpoints; a state saved by the
    ``CosineAnnealingLR`` that training used before loads too (its step count is ``last_epoch``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total: int, lr_min: float):
        self.total, self.lr_min = total, lr_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [cosine(self.last_epoch, self.total, base, self.lr_min) for base in self.base_lrs]
