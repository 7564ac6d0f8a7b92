"""The typed model configuration: what a network is, recorded in every weights file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

class ModelConfig(BaseModel):
    """Everything needed to rebuild a network; saved in the metadata of its weights."""

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

    @model_validator(mode="before")
    @classmethod
    def _default_skip(cls, data):
        if isinstance(data, dict) and data.get("skip") is None:
            data = {**data, "skip": "add" if data.get("arch") == "nafnet" else "attention"}
        return data

    @model_validator(mode="after")
    def _check_levels(self) -> "ModelConfig":
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
