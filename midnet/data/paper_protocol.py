"""The paper's evaluation protocol, for comparison with its numbers only.

Wang et al. cut each micrograph into overlapping 512x512 tiles (a 4x3 grid, stride 256),
resized them to 256x256 and split the tiles 90/10 at random. Tiles of one micrograph
overlap, so test content is seen in training: this split LEAKS and overstates quality.
midnet's own protocol splits by micrograph (:func:`midnet.data.split_names`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from skimage.transform import resize

from ..errors import MidnetError
from .pairs import Pair, load_pairs

LEAK_WARNING = "paper protocol: random split of overlapping tiles of the same micrographs (leaks test content)"


def paper_tiles(pairs: list[Pair], tile: int = 512, stride: int = 256, size: int = 256) -> list[Pair]:
    """Every ``tile`` square at ``stride`` inside each micrograph (info bar excluded), resized to ``size``."""
    tiles = []
    for p in pairs:
        h, w = p.blur.shape
        if min(h, w) < tile:
            raise MidnetError(f"{p.name}: {w}x{h} is smaller than the paper's {tile}px tiles")
        ys = sorted(set(list(range(0, h - tile + 1, stride)) + [h - tile]))
        xs = sorted(set(list(range(0, w - tile + 1, stride)) + [w - tile]))
        for y in ys:
            for x in xs:
                crop = (slice(y, y + tile), slice(x, x + tile))
                shrink = lambda a: resize(a[crop], (size, size), anti_aliasing=True, preserve_range=True).astype(np.float32)  # noqa: E731
                tiles.append(dataclasses.replace(p, name=f"{p.name}@{y},{x}", blur=shrink(p.blur), sharp=shrink(p.sharp)))
    return tiles


def random_split(tiles: list[Pair], test_fraction: float = 0.1, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(train, test) tiles drawn at random, as the paper did (108/12 of 120)."""
    if not 0 < test_fraction < 1:
        raise MidnetError(f"test fraction must lie in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(tiles))
    n_test = max(1, round(len(tiles) * test_fraction))
    test = {int(i) for i in order[:n_test]}
    return [t for i, t in enumerate(tiles) if i not in test], [t for i, t in enumerate(tiles) if i in test]


def paper_split(path, infobar="auto", seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(train, test) tiles of the paper's protocol on a pair folder: leaking, for comparison only."""
    return random_split(paper_tiles(load_pairs(path, infobar, align="affine")), 0.1, seed)
