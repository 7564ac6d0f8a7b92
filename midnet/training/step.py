"""One optimizer step on the schedule, and the loss of a (possibly multi-stage) prediction.

:func:`scheduled_step` is the step of ``midnet train`` and ``midnet finetune`` alike.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .losses import RestorationLoss


def training_step(net: nn.Module, criterion: RestorationLoss, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                  y: torch.Tensor, scaler: torch.amp.GradScaler | None = None, amp_dtype: torch.dtype | None = None,
                  grad_clip: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimizer step: forward (autocast when ``amp_dtype``), the loss, backward, the update.

    ``scaler`` is the fp16 loss scaler; without one the step is the plain float32 update.
    Gray crops (one channel) fed to a colour network are repeated to its channel count.
    """
    network = net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net  # DDP stands for it
    chans = network.in_chans
    if chans > 1 and x.shape[1] == 1:  # gray data into a colour network (e.g. a fine-tuned RGB checkpoint)
        x, y = x.expand(-1, chans, -1, -1).contiguous(), y.expand(-1, chans, -1, -1)
    with torch.autocast(x.device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext():
        pred = net(x)
    loss, terms = supervise(criterion, pred, y)
    optimizer.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler else loss).backward()
    if grad_clip:
        if scaler:
            scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss, terms


def scheduled_step(net: nn.Module, criterion: RestorationLoss, optimizer: torch.optim.Optimizer, scheduler,
                   x: torch.Tensor, y: torch.Tensor, scaler: torch.amp.GradScaler | None = None,
                   amp_dtype: torch.dtype | None = None, grad_clip: float = 0.0
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One step of a run: the network in training mode, :func:`training_step`, then the schedule's next rate.

    ``x`` and ``y`` are on the network's device already (in its memory layout).
    """
    net.train()  # scoring the held-out part in between leaves it in eval mode
    loss, terms = training_step(net, criterion, optimizer, x, y, scaler, amp_dtype, grad_clip)
    scheduler.step()
    return loss, terms


def supervise(criterion: RestorationLoss, pred, target: torch.Tensor):
    """The loss of a prediction; multi-stage networks (HINet) are supervised at every stage, as their paper does."""
    if not isinstance(pred, (list, tuple)):
        return criterion(pred.float(), target)
    total, terms = 0.0, {}
    for stage in pred:
        loss, stage_terms = criterion(stage.float(), target)
        total = total + loss
        for k, v in stage_terms.items():
            terms[k] = terms.get(k, 0.0) + v
    return total, terms
