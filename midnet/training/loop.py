"""The training loop: set up, restore or begin, step until done or stopped, checkpoint.

Batches are a pure function of (seed, iteration, rank), and a checkpoint holds every other
piece of state, so a resumed run continues exactly. Several GPUs or machines: launch the
same command with ``torchrun`` (PyTorch's DDP launcher, multi-node through its
rendezvous); every rank draws its own shard of each batch, rank 0 writes the files.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import sample_batch
from ..inference.devices import pick_device
from ..quality.domain import DOMAIN_KEY
from ..errors import MidnetError
from ..quality.evaluate import score_pairs
from .losses import RestorationLoss
from ..images.publish import atomic_write
from ..models.weights import TRAINED_ON_KEY, save_model
from ..models.zoo import trained_on
from .checkpoint import Checkpoint
from .config import TrainConfig, dump_config
from .dataset import TrainingData, load_training_data, training_domain, validation_warnings
from .distributed import Ranks, agree, end_ranks, record_ranks, start_ranks
from .metrics_log import MetricsLog
from .network import init_network
from .overrides import check_resume_config
from .schedule import CosineSchedule
from .signals import StopFlag
from .step import scheduled_step


@dataclass
class Session:
    """Everything one call of :func:`train` works with."""

    config: TrainConfig
    ranks: Ranks
    device: torch.device
    data: TrainingData
    model: nn.Module  # the network itself (what is saved)
    net: nn.Module  # what steps run through: the network, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: Any
    criterion: RestorationLoss
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    init_note: str
    trained_on: list[str]
    domain: dict[str, list[float]]  # the training frames' domain measures (rank 0 only; midnet/quality/domain.py)
    echo: Callable[[str], None]
    ckpt: Checkpoint
    log: MetricsLog | None = None
    bar: Any = None
    start: int = 0
    it: int = 0
    best: float = -math.inf
    last_val: tuple[float, float] | None = None
    first_batch_sum: float | None = None
    t0: float = 0.0

    @property
    def layout(self) -> torch.memory_format:
        return torch.channels_last if self.config.channels_last else torch.contiguous_format

    def say(self, msg: str) -> None:
        """A line from rank 0 that does not tear the progress bar."""
        if self.ranks.main:
            (self.bar.write if self.bar else self.echo)(msg)

    def metadata(self) -> dict[str, str]:
        """Recorded in every weights file of the run: how it was trained, on which micrographs, and the range of
        their domain measures (`midnet deblur` warns about inputs far outside it)."""
        return {"midnet.train_config": self.config.model_dump_json(), TRAINED_ON_KEY: json.dumps(self.trained_on),
                DOMAIN_KEY: json.dumps(self.domain)}


def train(
    config: TrainConfig, resume: bool = False, progress: bool = True, echo=print, stop_after: int | None = None
) -> dict[str, Any]:
    """Run (or resume) training; returns a summary (final step, best validation PSNR, paths, signal).

    ``stop_after`` stops like SIGINT after that many steps of this call (checkpoint, then
    return). A run stopped by SIGINT/SIGTERM returns with ``signal`` set to its number.
    """
    ranks = start_ranks(config.device)
    try:
        session = prepare(config, ranks, echo if ranks.main else (lambda msg: None))
        restore_or_begin(session, resume)
        stop = run_steps(session, progress, stop_after)
        if ranks.distributed:
            record_ranks(session.model, session.first_batch_sum, session.ckpt.out, ranks)
        return summary(session, stop)
    finally:
        end_ranks(ranks)


def prepare(config: TrainConfig, ranks: Ranks, echo: Callable[[str], None]) -> Session:
    """Device, data, network, optimizer and schedule of a run (nothing written yet)."""
    if config.data.batch % ranks.world:
        raise MidnetError(f"data.batch ({config.data.batch}) must divide evenly over {ranks.world} processes")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    data = load_training_data(config.data, config.seed, echo)
    for warning in validation_warnings(config, data):
        echo(f"warning: {warning}")

    torch.manual_seed(config.seed)  # identical initial weights on every rank
    model, init_note, parent = init_network(config.model)
    model.to(device)
    # the layout is set before the optimizer and DDP see the parameters
    model.to(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    trainable = [p for p in model.parameters() if p.requires_grad]
    adam = torch.optim.AdamW if config.optim.weight_decay else torch.optim.Adam
    optimizer = adam(trainable, lr=config.optim.lr, betas=config.optim.betas, weight_decay=config.optim.weight_decay)
    scheduler = CosineSchedule(optimizer, total=config.iterations, lr_min=config.optim.lr_min)
    use_amp = config.amp != "none" and device.type == "cuda"
    net = nn.parallel.DistributedDataParallel(model) if ranks.distributed else model
    return Session(
        config=config, ranks=ranks, device=device, data=data, model=model, net=net, optimizer=optimizer,
        scheduler=scheduler, criterion=RestorationLoss(config.loss).to(device),
        scaler=torch.amp.GradScaler("cuda", enabled=use_amp and config.amp == "fp16"),
        amp_dtype=(torch.bfloat16 if config.amp == "bf16" else torch.float16) if use_amp else None,
        init_note=init_note, trained_on=sorted(set(trained_on(parent)) | set(data.trained_on)),
        domain=_training_domain(config, data, parent, echo) if ranks.main else {}, echo=echo,
        ckpt=Checkpoint(Path(config.out)),
    )


def _training_domain(config: TrainConfig, data: TrainingData, parent: dict[str, str],
                     echo: Callable[[str], None]) -> dict[str, list[float]]:
    frames = len(data.pairs) * (1 + (config.data.synthetic.share > 0))
    echo(f"measuring the domain of {frames} training frames (recorded in the weights)...")
    return training_domain(config, data.pairs, parent)


def restore_or_begin(s: Session, resume: bool) -> None:
    """Load the checkpoint (``resume``) or refuse to overwrite one; write the run's config; say what runs."""
    out, note = s.ckpt.out, s.init_note
    if resume:
        check_resume_config(s.config, out)
        if s.ckpt.exists():
            s.start, s.best = s.ckpt.load(s.model, s.optimizer, s.scheduler, s.scaler)
            if s.ranks.main:
                s.ckpt.republish()
            note = f"resumed from {out} at step {s.start}"
        elif (out / "config.yaml").is_file():  # killed before its first checkpoint was complete
            note = f"{note}; resumed from {out} at step 0 (it has no complete checkpoint yet)"
        else:
            raise MidnetError(f"{out}: no checkpoint to resume (no checkpoint.json); start the run without --resume")
    elif s.ckpt.exists():  # every rank checks, so no rank is left waiting in DDP
        raise MidnetError(f"{out}: holds a checkpoint already; pass --resume to continue it or choose another out")
    s.it = s.start
    if not s.ranks.main:
        return
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "config.yaml") as tmp:  # --resume reads it: a kill must not leave half a file
        Path(tmp).write_text(dump_config(s.config))
    s.log = MetricsLog(out / "metrics.csv", s.start)
    d = s.data
    s.echo(f"training {note}; {len(d.pairs)} micrographs ({', '.join(d.train_names)}), validation: "
           f"{', '.join(d.val_names) or 'none'}; device {s.device}, {s.ranks.world} process(es)")


def run_steps(s: Session, progress: bool, stop_after: int | None) -> StopFlag:
    """Step until the last iteration, a signal or ``stop_after``; checkpoint on the way and at the end."""
    if s.ranks.main and progress:
        from tqdm import tqdm

        s.bar = tqdm(total=s.config.iterations, initial=s.start, unit="it", dynamic_ncols=True, desc="train",
                     mininterval=0.1 if sys.stderr.isatty() else 30)  # a log file gets a line every 30 s
    s.t0 = time.time()
    with StopFlag() as stop:
        while s.it < s.config.iterations:
            loss_value, terms = one_step(s)
            if stop_after is not None and s.it - s.start >= stop_after:
                stop.raised = True
            stop.raised, stop.signum, bad = agree(s.ranks, s.device, stop.raised, stop.signum,
                                                  not math.isfinite(loss_value))
            if bad:
                raise MidnetError(f"loss became non-finite at step {s.it}; lower optim.lr or set optim.grad_clip")
            # the agreed flag, not the live one: a signal during this step's validation or checkpoint
            # is acted on after the next step, on every rank at once, and always with a checkpoint
            stopping = stop.raised
            after_step(s, loss_value, terms, stopping)
            if stopping:
                s.say(f"stopped at step {s.it}; checkpoint saved, continue with --resume")
                break
    if s.bar:
        s.bar.close()
    return stop


def one_step(s: Session) -> tuple[float, dict[str, torch.Tensor]]:
    """Draw this rank's batch of step ``s.it`` and take the optimizer step."""
    c = s.config
    x, y = sample_batch(s.data.pairs, c.data.batch // s.ranks.world, c.data.crop, c.seed, s.it, s.ranks.rank,
                        c.data.augment, local_targets=c.data.target_shift == "local", synthetic=c.data.synthetic.pairs())
    if s.first_batch_sum is None:
        s.first_batch_sum = float(x.double().sum())
    x, y = x.to(s.device).contiguous(memory_format=s.layout), y.to(s.device)
    loss, terms = scheduled_step(s.net, s.criterion, s.optimizer, s.scheduler, x, y, s.scaler, s.amp_dtype,
                                 c.optim.grad_clip)
    s.it += 1
    return loss.item(), terms


def after_step(s: Session, loss_value: float, terms: dict[str, torch.Tensor], stopping: bool) -> None:
    """Log, validate and checkpoint as the schedule (or a stop) asks; files from rank 0 only."""
    c, it, main = s.config, s.it, s.ranks.main
    row: dict[str, Any] | None = None
    if main and (it % c.log_every == 0 or it == c.iterations):
        row = {"iteration": it, "loss": f"{loss_value:.6f}", "lr": f"{s.scheduler.get_last_lr()[0]:.3e}",
               "elapsed_s": f"{time.time() - s.t0:.1f}"}
        row.update({k: f"{v.item():.6f}" for k, v in terms.items()})
    if main and s.data.val_pairs and ((c.val_every and it % c.val_every == 0) or it == c.iterations):
        row = validate(s, row or {"iteration": it})
    if row and s.log:
        s.log.write(row)
    if s.bar:
        s.bar.update(1)
        s.bar.set_postfix(refresh=False, loss=f"{loss_value:.4f}", lr=f"{s.scheduler.get_last_lr()[0]:.2e}",
                          **({"val": f"{s.last_val[0]:.2f}dB"} if s.last_val else {}))
    if main and (it % c.ckpt_every == 0 or it == c.iterations or stopping):
        s.ckpt.save(s.model, s.optimizer, s.scheduler, it, s.best, s.metadata(), s.scaler)


def validate(s: Session, row: dict[str, Any]) -> dict[str, Any]:
    """Score the held-out micrographs whole; keep the best weights in best.safetensors."""
    scores = score_pairs(s.model, s.data.val_pairs, tile=s.config.val_tile)["mean"]
    s.last_val = (scores["psnr"], scores["ssim"])
    row.update(val_psnr=f"{s.last_val[0]:.4f}", val_ssim=f"{s.last_val[1]:.5f}")
    s.say(f"step {s.it}: validation PSNR {s.last_val[0]:.2f} dB, SSIM {s.last_val[1]:.4f} "
          f"(input {scores['input_psnr']:.2f} dB, {scores['input_ssim']:.4f})")
    if s.last_val[0] > s.best:
        s.best = s.last_val[0]
        save_model(s.model, s.ckpt.out / "best.safetensors",
                   metadata={**s.metadata(), "midnet.iteration": str(s.it), "midnet.val_psnr": f"{s.best:.4f}"})
    return row


def summary(s: Session, stop: StopFlag) -> dict[str, Any]:
    stopped = s.it < s.config.iterations
    return {"iteration": s.it, "best_val_psnr": s.best if s.data.val_pairs and math.isfinite(s.best) else None,
            "out": str(s.ckpt.out), "weights": str(s.ckpt.weights), "stopped": stopped,
            "signal": stop.signum if stopped else None}
