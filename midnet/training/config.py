"""The typed config of a training run: one :class:`TrainConfig` is the single source of truth.

It is saved beside every checkpoint (``config.yaml``), so a run folder alone says how to
continue it. The cross-field checks are validators named for what they check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..data.degrade import SyntheticPairs
from .losses import LossConfig


class ModelSection(BaseModel):
    """Which network to train and where its first weights come from."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field("midnet-s", description="Preset name; null takes the network of init_from as it is.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Preset fields to change (width, skip...).")
    in_chans: int = Field(1, ge=1, le=4, description="Image channels of the network; gray data is repeated to fit.")
    init_from: str | None = Field(
        None, description="Weights to start from: a preset that ships weights (midnet-sem) or a file "
        "(.safetensors or official .pth).")
    freeze: list[str] = Field(default_factory=list, description="Parameter-name prefixes to keep fixed, e.g. encoders.")

    @model_validator(mode="after")
    def network_comes_from_preset_or_init_from(self) -> "ModelSection":
        if self.preset is None and self.init_from is None:
            raise ValueError("model.preset is null: give model.init_from to take the network from a file")
        return self


class OptimSection(BaseModel):
    """Adam with cosine annealing, as the paper trains."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-3, gt=0, le=1, description="Initial learning rate.")
    lr_min: float = Field(1e-7, ge=0, le=1, description="Learning rate at the end of the cosine schedule.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Adam(W) weight decay; 0 is plain Adam.")
    grad_clip: float = Field(0.0, ge=0, le=1e6, description="Clip the gradient norm to this; 0 switches clipping off.")


class SyntheticSection(BaseModel):
    """Synthetic pairs from the training frames' in-focus exposures (midnet/data/degrade.py)."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(0.0, ge=0, le=1, description="Share of the crops that are synthetic (0: real pairs only).")
    sigma_max: float = Field(9.0, ge=0, le=64, description="Widest PSF, as its standard deviation in pixels.")
    sharp_share: float = Field(0.2, ge=0, le=1, description="Share of synthetic crops left unblurred.")
    noise_max: float = Field(9.0, ge=0, le=255, description="Highest noise sd at the frame mean, in 8-bit grey levels.")
    clean_share: float = Field(0.15, ge=0, le=1, description="Share of synthetic crops given no noise.")
    smooth_share: float = Field(0.0, ge=0, le=1, description="Share of synthetic crops that are a smooth field "
                                "(one level, a ramp, a gentle curve) to be left as it is.")

    def pairs(self) -> SyntheticPairs | None:
        """The sampler's view of this section, or None when no crop is synthetic."""
        if self.share == 0:
            return None
        return SyntheticPairs(self.share, self.sigma_max, self.sharp_share, self.noise_max / 255, self.clean_share,
                              self.smooth_share)


class DataSection(BaseModel):
    """Where the pairs are and how they are split and cropped."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="Pair folder with blur/ and sharp/ of matching names.")
    infobar: int | Literal["auto", "none"] = Field("auto", description="Info bar rows at the bottom, or auto/none.")
    align: Literal["affine", "shift", "none"] = Field(
        "affine", description="Register blur onto sharp: affine (the SEM refocus shifts and stretches the frame), "
        "shift (crop to the overlap at the best integer shift; what `true` meant before affine) or none.")
    val_names: list[str] = Field(default_factory=list, description="Micrographs held out for validation.")
    folds: int = Field(0, ge=0, le=100, description="k-fold by micrograph (0: no folds); hold out fold `fold`.")
    fold: int = Field(0, ge=0, le=99, description="Which fold to hold out when folds > 1.")
    crop: int = Field(256, ge=16, le=4096, description="Side of the square training crops, in pixels.")
    batch: int = Field(8, ge=1, le=1024, description="Crops per iteration, over all processes.")
    augment: bool = Field(True, description="Random flips and 90-degree rotations (the paper's augmentation).")
    target_shift: Literal["frame", "local"] = Field(
        "frame", description="'frame': targets as the frame's registration leaves them. 'local': each target crop "
        "moved (Fourier, sub-pixel) by the misalignment its patch of the pair still shows beyond the frame's median, "
        "measured on the blurry/sharp pair alone (midnet/data/local_shift.py); evaluation is unchanged.")
    synthetic: SyntheticSection = Field(default_factory=SyntheticSection,
                                        description="Synthetic pairs of every blur width beside the real ones.")
    protocol: Literal["micrograph", "paper"] = Field(
        "micrograph",
        description="'micrograph': split by micrograph (honest). 'paper': the paper's 512px tiles resized to 256 "
        "and split 90/10 at random by `seed` -- tiles of one frame overlap, so this LEAKS; for comparison only.",
    )

    @field_validator("align", mode="before")
    @classmethod
    def align_true_false_mean_shift_none(cls, value):
        # configs saved before affine registration existed wrote align: true/false
        return {True: "shift", False: "none"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def local_targets_need_registered_micrographs(self) -> "DataSection":
        if self.target_shift == "local" and (self.align == "none" or self.protocol != "micrograph"):
            raise ValueError("data.target_shift: local refines a registration: it needs data.align affine or shift "
                             "and data.protocol micrograph")
        return self

    @model_validator(mode="after")
    def held_out_fold_below_folds(self) -> "DataSection":
        if self.folds > 1 and self.fold >= self.folds:
            raise ValueError(f"data.fold must be below data.folds ({self.folds})")
        return self


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


# Settings a resumed run may change: they do not alter what is computed.
RESUMABLE_CHANGES = {"val_every", "ckpt_every", "log_every", "device", "threads", "out", "val_tile"}


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def field_paths(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted key of a config, sections included (``optim``, ``optim.lr``...)."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append(prefix + name)
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            paths += field_paths(kind, f"{prefix}{name}.")
    return paths
