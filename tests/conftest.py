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
def _seed_and_one_thread():
    """Seeded, and one torch thread: the tests' tensors are small, where threads cost more than they give."""
    torch.manual_seed(0)
    np.random.seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def write_pair_folder(root: Path, names=("a", "b", "c"), h: int = 96, w: int = 128, bar: int = 16) -> Path:
    """A small pair folder like a microscope's: gray PNGs, blur = Gaussian(sharp), a text info bar."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    for sub in ("blur", "sharp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        sharp = smooth_image(h, w, seed=10 + i)
        blur = gaussian_filter(sharp, 1.5)
        for sub, img in (("blur", blur), ("sharp", sharp)):
            frame = np.zeros((h + bar, w), np.uint8)
            frame[:h] = np.round(img * 255)
            frame[h + 4 : h + 10, 8:40] = 255  # "text" in the info bar
            Image.fromarray(frame).save(root / sub / f"{name}.png")
    return root


@pytest.fixture
def pair_folder(tmp_path) -> Path:
    return write_pair_folder(tmp_path / "pairs")
