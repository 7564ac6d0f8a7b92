"""Training and fine-tuning on paired micrographs.

One :class:`TrainConfig` is the single source of truth of a run; it is saved beside
every checkpoint. Batches are a pure function of (seed, iteration, rank), so a resumed
run continues exactly. Several GPUs or machines: launch the same command with
``torchrun`` (PyTorch's own DDP launcher: nothing extra to install, multi-node through
its rendezvous); every rank draws its own shard of each batch.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from torch import nn

from .data import load_pairs, sample_batch, split_names
from .data.paper_protocol import LEAK_WARNING, paper_split
from .errors import MidnetError
from .io import atomic_write
from .devices import pick_device
from .evaluate import score_pairs
from .losses import LossConfig, RestorationLoss
from .models import build_model, parse_model_config, preset_config
from .models import _one_line as one_line
from .weights import infer_config, read_weights, save_model, CONFIG_KEY


class ModelSection(BaseModel):
    """Which network to train and where its first weights come from."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field("midnet-s", description="Preset name; null takes the network of init_from as it is.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Preset fields to change (width, skip...).")
    in_chans: int = Field(1, ge=1, le=4, description="Image channels of the network; gray data is repeated to fit.")
    init_from: str | None = Field(None, description="Weights file to start from (.safetensors or official .pth).")
    freeze: list[str] = Field(default_factory=list, description="Parameter-name prefixes to keep fixed, e.g. encoders.")


class OptimSection(BaseModel):
    """Adam with cosine annealing, as the paper trains."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-3, gt=0, le=1, description="Initial learning rate.")
    lr_min: float = Field(1e-7, ge=0, le=1, description="Learning rate at the end of the cosine schedule.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Adam(W) weight decay; 0 is plain Adam.")
    grad_clip: float = Field(0.0, ge=0, le=1e6, description="Clip the gradient norm to this; 0 switches clipping off.")


class DataSection(BaseModel):
    """Where the pairs are and how they are split and cropped."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="Pair folder with blur/ and sharp/ of matching names.")
    infobar: int | Literal["auto", "none"] = Field("auto", description="Info bar rows at the bottom, or auto/none.")
    align: Literal["affine", "shift", "none"] = Field(
        "affine", description="Register blur onto sharp: affine (the SEM refocus shifts and stretches the frame), "
        "shift (crop to the overlap at the best integer shift; what `true` meant before affine) or none.")

    @field_validator("align", mode="before")
    @classmethod
    def _align_bool(cls, value):
        return {True: "shift", False: "none"}.get(value, value) if isinstance(value, bool) else value
    val_names: list[str] = Field(default_factory=list, description="Micrographs held out for validation.")
    folds: int = Field(0, ge=0, le=100, description="k-fold by micrograph (0: no folds); hold out fold `fold`.")
    fold: int = Field(0, ge=0, le=99, description="Which fold to hold out when folds > 1.")
    crop: int = Field(256, ge=16, le=4096, description="Side of the square training crops, in pixels.")
    batch: int = Field(8, ge=1, le=1024, description="Crops per iteration, over all processes.")
    augment: bool = Field(True, description="Random flips and 90-degree rotations (the paper's augmentation).")
    protocol: Literal["micrograph", "paper"] = Field(
        "micrograph",
        description="'micrograph': split by micrograph (honest). 'paper': the paper's 512px tiles resized to 256 "
        "and split 90/10 at random by `seed` -- tiles of one frame overlap, so this LEAKS; for comparison only.",
    )


class TrainConfig(BaseModel):
    """A training run."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSection = Field(default_factory=ModelSection, description="The network.")
    loss: LossConfig = Field(default_factory=LossConfig, description="Loss terms and weights.")
    optim: OptimSection = Field(default_factory=OptimSection, description="Optimizer and schedule.")
    data: DataSection = Field(description="Training data.")
    iterations: int = Field(200_000, ge=1, le=10_000_000, description="Optimizer steps in the whole run.")
    val_every: int = Field(1000, ge=0, le=10_000_000, description="Validate every this many steps (0: only at the end).")
    ckpt_every: int = Field(250, ge=1, le=10_000_000, description="Checkpoint every this many steps.")
    log_every: int = Field(10, ge=1, le=100_000, description="Log losses every this many steps.")
    val_tile: int | None = Field(None, ge=64, le=8192, description="Tile size for validation (None: whole image).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the weights and every batch.")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    amp: Literal["none", "bf16", "fp16"] = Field("none", description="Mixed precision on CUDA.")
    threads: int = Field(0, ge=0, le=256, description="CPU threads for PyTorch (0: its default).")
    channels_last: bool = Field(
        True, description="Train in channels-last memory layout (fused layer norm, faster convolutions; same "
        "losses within float rounding). False: the plain NCHW step of the official code.")
    out: Path = Field(Path("runs/midnet"), description="Run folder: checkpoints, config, metrics log.")

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.model.preset is None and self.model.init_from is None:
            raise ValueError("model.preset is null: give model.init_from to take the network from a file")
        if self.data.folds > 1 and self.data.fold >= self.data.folds:
            raise ValueError(f"data.fold must be below data.folds ({self.data.folds})")
        return self


# ---------------------------------------------------------------- configuration files


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise MidnetError(f"--set {dotted}: {k} is not a section")
    node[keys[-1]] = value


def load_config(
    path: str | os.PathLike | None = None, overrides: list[str] = (), values: dict[str, Any] | None = None
) -> TrainConfig:
    """A config from a YAML file with ``key.sub=value`` overrides (values parsed as YAML, never eval'd).

    ``values`` sets dotted keys to Python values as they are (paths from the command line).
    """
    tree: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MidnetError(f"{path}: no such config file")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise MidnetError(f"{path}: not valid YAML ({one_line(exc)})") from exc
    for item in overrides:
        if "=" not in item:
            raise MidnetError(f"--set {item!r}: write key=value, e.g. --set optim.lr=5e-4")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise MidnetError(f"--set {item!r}: the value is not valid YAML; quote it, e.g. key='a: b'") from None
        _set_dotted(tree, key.strip(), value)
    for key, value in (values or {}).items():
        _set_dotted(tree, key, value)
    try:
        return TrainConfig.model_validate(tree)
    except ValidationError as exc:
        raise MidnetError(f"invalid training config{f' {path}' if path else ''}: {one_line(exc)}") from exc


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- building blocks


def build_network(section: ModelSection) -> tuple[nn.Module, str]:
    """The network to train and a line saying how it was initialised."""
    state = None
    if section.init_from:
        state, meta = read_weights(section.init_from)
        file_config = parse_model_config(meta[CONFIG_KEY]) if CONFIG_KEY in meta else infer_config(state)
    if section.preset is None:
        config = file_config
    else:
        config = preset_config(section.preset, in_chans=section.in_chans, **section.overrides)
    model = build_model(config)
    note = f"{config.arch} from scratch"
    if state is not None:
        own = model.state_dict()
        fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not fitting:
            raise MidnetError(f"{section.init_from}: none of its weights fit a {config.arch} network of this shape")
        model.load_state_dict(fitting, strict=False)
        note = f"{config.arch} initialised from {section.init_from}: {len(fitting)}/{len(own)} tensors loaded"
        if len(fitting) < len(own):
            note += f" ({len(own) - len(fitting)} new, e.g. {next(k for k in own if k not in fitting)})"
    frozen = 0
    for name, p in model.named_parameters():
        if any(name.startswith(prefix) for prefix in section.freeze):
            p.requires_grad_(False)
            frozen += p.numel()
    if section.freeze and not frozen:
        raise MidnetError(f"model.freeze {section.freeze} matches no parameter; use names like encoders, intro, downs")
    if frozen:
        note += f"; {frozen:,} parameters frozen"
    return model, note


class Checkpoint:
    """``last.safetensors`` (weights + config) and ``last.state.pt`` (optimizer, schedule, step).

    Both written to temporaries and renamed; the state names the step the weights hold,
    so a crash between the two renames is detected instead of resumed wrongly.
    """

    def __init__(self, out: Path):
        self.out = out
        self.weights = out / "last.safetensors"
        self.state = out / "last.state.pt"

    def save(self, model: nn.Module, optimizer, scheduler, iteration: int, best: float, config: TrainConfig,
             scaler=None) -> None:
        meta = {"midnet.iteration": str(iteration), "midnet.train_config": config.model_dump_json()}
        save_model(model, self.weights, metadata=meta)
        with atomic_write(self.state) as tmp:
            torch.save(
                {
                    "iteration": iteration,
                    "best_psnr": best,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "scaler": scaler.state_dict() if scaler is not None else {},
                },
                tmp,
            )

    def load(self, model: nn.Module, optimizer, scheduler, scaler=None) -> tuple[int, float]:
        if not (self.weights.is_file() and self.state.is_file()):
            raise MidnetError(f"{self.out}: no checkpoint to resume (last.safetensors + last.state.pt)")
        weights, meta = read_weights(self.weights)
        state = torch.load(self.state, map_location="cpu", weights_only=True)
        if int(meta.get("midnet.iteration", -1)) != state["iteration"]:
            raise MidnetError(f"{self.out}: weights and optimizer state are from different steps; delete last.* to restart")
        model.load_state_dict(weights, strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        return int(state["iteration"]), float(state["best_psnr"])


# Settings a resumed run may change: they do not alter what is computed.
RESUMABLE_CHANGES = {"val_every", "ckpt_every", "log_every", "device", "threads", "out", "val_tile"}


def check_resume_config(config: TrainConfig, out: Path) -> None:
    """Refuse to resume under a config that would change the run (data, split, schedule...)."""
    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        return
    saved = load_config(saved_path).model_dump(mode="json")
    current = config.model_dump(mode="json")
    diffs = []
    for section, value in current.items():
        if section in RESUMABLE_CHANGES:
            continue
        if isinstance(value, dict):
            diffs += [f"{section}.{k}" for k in value if value[k] != saved.get(section, {}).get(k)]
        elif value != saved.get(section):
            diffs.append(section)
    if diffs:
        raise MidnetError(
            f"{out}: --resume with other settings than the run ({', '.join(diffs)}); resume with "
            f"'midnet train --out {out} --resume' (its saved config) or start a new run"
        )


class _StopFlag:
    """Set by SIGINT/SIGTERM: the loop checkpoints and exits at the end of the step."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. under some test runners)
                pass
        return self

    def _handle(self, signum, frame):
        self.raised = True
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C ends the process at once

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


class MetricsLog:
    """CSV of every logged step, plus TensorBoard when it is installed."""

    FIELDS = ["iteration", "loss", "l1", "edge", "fft", "lr", "val_psnr", "val_ssim", "elapsed_s"]

    def __init__(self, path: Path, resume_from: int):
        self.path = path
        rows = []
        if path.is_file() and resume_from > 0:  # drop rows a resumed run will write again
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_from]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(path.parent / "tensorboard"))
        except Exception:  # tensorboard not installed: CSV only
            self.tb = None

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.FIELDS, extrasaction="ignore").writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k != "iteration" and v not in ("", None):
                    self.tb.add_scalar(k, float(v), int(row["iteration"]))


# ---------------------------------------------------------------- the loop


def train(
    config: TrainConfig, resume: bool = False, progress: bool = True, echo=print, stop_after: int | None = None
) -> dict[str, Any]:
    """Run (or resume) training; returns a summary (final step, best validation PSNR, paths).

    ``stop_after`` stops like SIGINT after that many steps of this call (checkpoint, then return).
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    owns_group = distributed and not dist.is_initialized()
    if owns_group:
        backend = "nccl" if torch.cuda.is_available() and config.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    main = rank == 0
    if config.data.batch % world:
        raise MidnetError(f"data.batch ({config.data.batch}) must divide evenly over {world} processes")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)

    if config.data.protocol == "paper":
        pairs, val_pairs = paper_split(config.data.path, config.data.infobar, config.seed)
        train_names, val_names = ["paper tiles"], [f"{len(val_pairs)} random tiles ({LEAK_WARNING})"]
    else:
        names = [p[0] for p in _pair_names(config.data.path)]
        train_names, val_names = split_names(names, config.data.val_names, config.data.folds, config.data.fold)
        pairs = load_pairs(config.data.path, config.data.infobar, train_names, align=config.data.align)
        val_pairs = load_pairs(config.data.path, config.data.infobar, val_names, align=config.data.align,
                               warn_shift=False) if val_names else []

    torch.manual_seed(config.seed)  # identical initial weights on every rank
    model, init_note = build_network(config.model)
    model.to(device)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(memory_format=layout)  # before the optimizer and DDP see the parameters
    chans = model.config.in_chans
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW if config.optim.weight_decay else torch.optim.Adam
    optimizer = optimizer(trainable, lr=config.optim.lr, betas=config.optim.betas, weight_decay=config.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.iterations, eta_min=config.optim.lr_min)
    criterion = RestorationLoss(config.loss).to(device)

    use_amp = config.amp != "none" and device.type == "cuda"
    amp_dtype = torch.bfloat16 if config.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and config.amp == "fp16")

    out = Path(config.out)
    ckpt = Checkpoint(out)
    start, best = 0, -math.inf
    if resume:
        check_resume_config(config, out)
        start, best = ckpt.load(model, optimizer, scheduler, scaler)
    elif ckpt.state.exists():  # every rank checks, so no rank is left waiting in DDP
        raise MidnetError(f"{out}: holds a checkpoint already; pass --resume to continue it or choose another out")
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_config(config))
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    per_rank = config.data.batch // world
    log = MetricsLog(out / "metrics.csv", start) if main else None
    if start:
        init_note = f"resumed from {out} at step {start}"
    if main:
        echo(
            f"training {init_note}; {len(pairs)} micrographs ({', '.join(train_names)}), "
            f"validation: {', '.join(val_names) or 'none'}; device {device}, {world} process(es)"
        )
    bar = None
    if main and progress:
        from tqdm import tqdm

        bar = tqdm(total=config.iterations, initial=start, unit="it", dynamic_ncols=True, desc="train",
                   mininterval=0.1 if sys.stderr.isatty() else 30)  # a log file gets a line every 30 s
    t0 = time.time()
    it = start
    first_batch_sum = None
    last_val: tuple[float, float] | None = None
    with _StopFlag() as stop:
        while it < config.iterations:
            x, y = sample_batch(pairs, per_rank, config.data.crop, config.seed, it, rank, config.data.augment)
            if first_batch_sum is None:
                first_batch_sum = float(x.double().sum())
            x, y = x.to(device), y.to(device)
            if chans > 1:  # gray data into a colour network (e.g. a fine-tuned RGB checkpoint)
                x, y = x.expand(-1, chans, -1, -1), y.expand(-1, chans, -1, -1)
            x = x.contiguous(memory_format=layout)
            net.train()
            loss, terms = training_step(net, criterion, optimizer, x, y, scaler, amp_dtype if use_amp else None,
                                        config.optim.grad_clip)
            scheduler.step()
            it += 1
            loss_value = loss.item()
            if stop_after is not None and it - start >= stop_after:
                stop.raised = True
            bad = not math.isfinite(loss_value)
            if distributed:  # every rank stops (or fails) at the same step, or collectives deadlock
                flags = torch.tensor([float(stop.raised), float(bad)], device=device)
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
                stop.raised, bad = bool(flags[0]), bool(flags[1])
            if bad:
                raise MidnetError(f"loss became non-finite at step {it}; lower optim.lr or set optim.grad_clip")

            row: dict[str, Any] | None = None
            if main and (it % config.log_every == 0 or it == config.iterations):
                row = {"iteration": it, "loss": f"{loss_value:.6f}", "lr": f"{scheduler.get_last_lr()[0]:.3e}",
                       "elapsed_s": f"{time.time() - t0:.1f}"}
                row.update({k: f"{v.item():.6f}" for k, v in terms.items()})
            validate = val_pairs and ((config.val_every and it % config.val_every == 0) or it == config.iterations)
            if main and validate:
                scores = score_pairs(model, val_pairs, tile=config.val_tile)
                last_val = (scores["mean"]["psnr"], scores["mean"]["ssim"])
                row = row or {"iteration": it}
                row.update(val_psnr=f"{last_val[0]:.4f}", val_ssim=f"{last_val[1]:.5f}")
                msg = f"step {it}: validation PSNR {last_val[0]:.2f} dB, SSIM {last_val[1]:.4f} " \
                      f"(input {scores['mean']['input_psnr']:.2f} dB, {scores['mean']['input_ssim']:.4f})"
                (bar.write if bar else echo)(msg)
                if last_val[0] > best:
                    best = last_val[0]
                    save_model(model, out / "best.safetensors",
                               metadata={"midnet.iteration": str(it), "midnet.val_psnr": f"{best:.4f}"})
            if row and log:
                log.write(row)
            if bar:
                bar.update(1)
                bar.set_postfix(refresh=False, loss=f"{loss_value:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}",
                                **({"val": f"{last_val[0]:.2f}dB"} if last_val else {}))
            if main and (it % config.ckpt_every == 0 or it == config.iterations or stop.raised):
                ckpt.save(model, optimizer, scheduler, it, best, config, scaler)
            if stop.raised:
                if main:
                    (bar.write if bar else echo)(f"stopped at step {it}; checkpoint saved, continue with --resume")
                break
    if bar:
        bar.close()
    if distributed:
        _record_ranks(model, first_batch_sum, out, main)
        if owns_group:
            dist.destroy_process_group()
    return {"iteration": it, "best_val_psnr": best if val_pairs and math.isfinite(best) else None, "out": str(out),
            "weights": str(ckpt.weights), "stopped": it < config.iterations}


def training_step(net: nn.Module, criterion: RestorationLoss, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                  y: torch.Tensor, scaler: torch.amp.GradScaler | None = None, amp_dtype: torch.dtype | None = None,
                  grad_clip: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimizer step: forward (autocast when ``amp_dtype``), the loss, backward, the update.

    ``scaler`` is the fp16 loss scaler; without one the step is the plain float32 update.
    """
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


def _record_ranks(model: nn.Module, first_batch_sum: float | None, out: Path, main: bool) -> None:
    """Write out/ranks.json: each rank's weight checksum (equal) and first-batch checksum (different)."""
    import json

    weights_sum = float(sum(p.detach().double().sum() for p in model.parameters()).cpu())
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, {"rank": dist.get_rank(), "weights_checksum": weights_sum,
                                      "first_batch_checksum": first_batch_sum})
    if main:
        (out / "ranks.json").write_text(json.dumps(gathered, indent=1))
    dist.barrier()


def _pair_names(path: Path):
    from .data import find_pairs

    return find_pairs(path)
