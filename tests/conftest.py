"""Shared fixtures: where the real SEM pairs live, seeded generators, small test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import midnet
from midnet.data.shared import shared_pairs

REPO = Path(__file__).resolve().parents[1]
SEM_PAIRS = shared_pairs()  # $MIDNET_DATA, else shared/data/sem-pairs beside the checkout
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


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """midnet's cache (exported models) in a temporary folder: tests never touch the user's, and share one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDNET_CACHE_DIR", str(tmp_path_factory.mktemp("midnet-cache")))
        yield


class CountedCache:
    """A cache folder shared by a session's tests, and every ONNX export made into it (see sem_onnx_cache)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.exports: list[str] = []

    def use(self, monkeypatch) -> "CountedCache":
        """Point midnet's cache here and count exports, for the calling test."""
        from midnet.inference import onnx_graph

        real = onnx_graph.export_onnx

        def counted(net, path, **kw):
            self.exports.append(str(path))
            return real(net, path, **kw)

        monkeypatch.setenv("MIDNET_CACHE_DIR", str(self.folder))
        monkeypatch.setattr(onnx_graph, "export_onnx", counted)
        return self


@pytest.fixture(scope="session")
def sem_onnx_cache(tmp_path_factory) -> CountedCache:
    """One cache for every test that runs midnet-sem through ONNX: the export (~20 s on busy cores) is made once.

    Only midnet-sem goes in it, so ``exports`` holds at most one entry whatever the order of the
    tests, unless something exports again (per frame size, per restorer...): tests assert that.
    """
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    return CountedCache(tmp_path_factory.mktemp("sem-onnx-cache"))


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A width-8 MIDNet whose residual scales are non-zero, so that it changes its input: fast, and not the identity."""
    torch.manual_seed(0)
    net = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.1)
    return midnet.save_model(net, tmp_path_factory.mktemp("model") / "tiny.safetensors")


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
