"""The typed model configurations: what a network is, recorded in every weights file.

One pydantic model per network family, told apart by ``arch``; :data:`ModelConfig` is
their union and :func:`parse_model_config` reads any of them (a dict or JSON).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

class UNetConfig(BaseModel):
    """MIDNet and NAFNet: everything needed to rebuild one; saved in the metadata of its weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["midnet", "nafnet"] = Field(
        description="Network family: 'midnet' (attention-gated skips) or 'nafnet' (plain skips)."
    )
    in_chans: int = Field(1, ge=1, le=4, description="Image channels in and out (1 for SEM grayscale, 3 for RGB).")
    width: int = Field(32, ge=4, le=256, description="Channels after the intro conv; doubles at every level down.")
    middle_blk_num: int = Field(1, ge=0, le=64, description="MID-Blocks at the bottom of the U.")
    enc_blk_nums: tuple[int, ...] = Field(
        (1, 1, 1, 28), min_length=1, max_length=6, description="MID-Blocks per encoder level, top level first."
    )
    dec_blk_nums: tuple[int, ...] = Field(
        (1, 1, 1, 1), min_length=1, max_length=6, description="MID-Blocks per decoder level, deepest level first."
    )
    skip: Literal["attention", "add"] = Field(
        None,  # filled from arch: 'attention' for midnet, 'add' for nafnet
        validate_default=False,
        description="Skip fusion: 'attention' (MIDNet's gate) or 'add' (NAFNet's addition; MIDNet's ablation).",
    )

    padding: Literal["zeros", "reflect"] = Field(
        "zeros", description="What the 3x3 convolutions see beyond the frame's edge: 'zeros' (official NAFNet) or "
        "'reflect' (the frame mirrored at its edge: flat frames stay flat up to it).")

    @model_validator(mode="before")
    @classmethod
    def _default_skip(cls, data):
        if isinstance(data, dict) and data.get("skip") is None:
            data = {**data, "skip": "add" if data.get("arch") == "nafnet" else "attention"}
        return data

    @model_validator(mode="after")
    def _check_levels(self) -> "UNetConfig":
        if len(self.enc_blk_nums) != len(self.dec_blk_nums):
            raise ValueError(
                f"enc_blk_nums has {len(self.enc_blk_nums)} levels but dec_blk_nums has "
                f"{len(self.dec_blk_nums)}: give both the same number of levels"
            )
        if any(not 0 <= n <= 64 for n in self.enc_blk_nums + self.dec_blk_nums):
            raise ValueError("block counts per level must lie in 0..64")
        if self.arch == "nafnet" and self.skip != "add":
            raise ValueError("NAFNet has plain additive skips; use arch='midnet' for attention-gated skips")
        return self


class HINetConfig(BaseModel):
    """HINet (Chen et al. 2021): two-stage U-Net with half instance normalisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["hinet"] = Field(description="HINet.")
    in_chans: int = Field(1, ge=1, le=4, description="Image channels in and out.")
    wf: int = Field(64, ge=2, le=256, description="Channels of the first level; doubles at every level down.")
    depth: int = Field(5, ge=2, le=6, description="U-Net levels of each stage.")
    relu_slope: float = Field(0.2, ge=0, le=1, description="LeakyReLU negative slope.")
    hin_position_left: int = Field(0, ge=0, le=6, description="First encoder level with half instance norm.")
    hin_position_right: int = Field(4, ge=0, le=6, description="Last encoder level with half instance norm.")


class RestormerConfig(BaseModel):
    """Restormer (Zamir et al. 2022): transformer U-Net with transposed (channel) attention."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["restormer"] = Field(description="Restormer.")
    in_chans: int = Field(1, ge=1, le=4, description="Image channels in and out.")
    dim: int = Field(48, ge=2, le=512, description="Channels of the first level (even); doubles at every level.")
    num_blocks: tuple[
        Annotated[int, Field(ge=0, le=64)], Annotated[int, Field(ge=0, le=64)],
        Annotated[int, Field(ge=0, le=64)], Annotated[int, Field(ge=0, le=64)],
    ] = Field((4, 6, 6, 8), description="Transformer blocks per level, top first (0..64 each).")
    num_refinement_blocks: int = Field(4, ge=0, le=64, description="Blocks of the refinement stage.")
    heads: tuple[
        Annotated[int, Field(ge=1, le=64)], Annotated[int, Field(ge=1, le=64)],
        Annotated[int, Field(ge=1, le=64)], Annotated[int, Field(ge=1, le=64)],
    ] = Field((1, 2, 4, 8), description="Attention heads per level (1..64 each).")
    ffn_expansion_factor: float = Field(2.66, gt=0, le=8, description="Gated-Dconv FFN expansion.")
    bias: bool = Field(False, description="Biases in convolutions.")
    LayerNorm_type: Literal["WithBias", "BiasFree"] = Field("WithBias", description="Layer norm variant.")


class DMPHNConfig(BaseModel):
    """DMPHN 1-2-4 (Zhang et al. 2019): multi-patch hierarchy of encoder/decoder pairs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["dmphn"] = Field(description="DMPHN(1-2-4).")
    in_chans: int = Field(1, ge=1, le=4, description="Image channels in and out.")
    width: int = Field(32, ge=2, le=256, description="Channels of the first encoder stage (official: 32).")


ModelConfig = Annotated[Union[UNetConfig, HINetConfig, RestormerConfig, DMPHNConfig], Field(discriminator="arch")]
MODEL_CONFIGS = (UNetConfig, HINetConfig, RestormerConfig, DMPHNConfig)
_ADAPTER: TypeAdapter = TypeAdapter(ModelConfig)


def parse_model_config(data: dict[str, Any] | str | bytes) -> BaseModel:
    """Any network's config from a dict or JSON; raises pydantic's ValidationError (a ValueError)."""
    if isinstance(data, (str, bytes)):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)
