"""Shared fixtures: where the real SEM pairs live, seeded generators, small test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SEM_PAIRS = REPO.parent / "shared" / "data" / "sem-pairs"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def sem_pairs() -> Path:
    if not (SEM_PAIRS / "blur").is_dir():
        pytest.skip(f"real SEM pairs not found at {SEM_PAIRS}")
    return SEM_PAIRS


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A float image in [0, 1] with structure at several scales (grains and edges)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = 0.5 + 0.2 * np.sin(12 * xx + 3 * yy) * np.cos(9 * yy)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, 1, 2).tolist() + [rng.uniform(0.05, 0.2)]
        img += 0.25 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)
    return np.clip(img / img.max(), 0, 1).astype(np.float32)
