import numpy as np
import pytest

from midnet.data.pairs import Pair
from midnet.data.paper_protocol import paper_tiles, random_split
from midnet.errors import MidnetError


def frame(name, h=960, w=1280):
    rng = np.random.default_rng(len(name))
    a = rng.random((h, w), dtype=np.float32)
    return Pair(name, a, a * 0.5, 64, (0.0, 0.0), False, 255.0)


def test_tiles_follow_the_papers_grid_and_size():
    tiles = paper_tiles([frame("m")])
    # 4 columns at stride 256 (the last one flush with the right edge), 3 rows within 960 rows
    assert len(tiles) == 12
    assert all(t.blur.shape == (256, 256) for t in tiles)
    assert {t.name for t in tiles} >= {"m@0,0", "m@0,256", "m@448,768"}
    assert all(np.allclose(t.sharp, t.blur * 0.5, atol=1e-6) for t in tiles)  # blur and sharp cut alike


def test_random_split_is_seeded_and_mixes_micrographs():
    tiles = paper_tiles([frame("a"), frame("bb")])
    train, test = random_split(tiles, 0.1, seed=3)
    assert len(test) == 2 and len(train) == 22
    assert [t.name for t in random_split(tiles, 0.1, seed=3)[1]] == [t.name for t in test]
    assert [t.name for t in random_split(tiles, 0.1, seed=4)[1]] != [t.name for t in test]
    # the leak this protocol has: a test tile's micrograph is also in training
    assert {t.name.split("@")[0] for t in test} <= {t.name.split("@")[0] for t in train}


def test_too_small_frames_are_refused():
    with pytest.raises(MidnetError, match="512"):
        paper_tiles([frame("s", 300, 400)])
