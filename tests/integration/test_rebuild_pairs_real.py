"""scripts/rebuild_pairs.py on a real SEM pair: cut as the authors published it, rebuilt bit for bit."""

import numpy as np
import pytest
from PIL import Image

from tests.unit.test_rebuild_pairs import read, rp, write_crops


@pytest.mark.slow  # ~5 s: 24 full-size crops
def test_real_pair_cut_into_published_crops_is_rebuilt_exactly(sem_pairs, tmp_path):
    frames = {}
    for side in rp.SIDES:
        with Image.open(sem_pairs / side / "1-1.png") as im:
            frames[side] = np.asarray(im.convert("RGB"))
        assert frames[side].shape == (1024, 1280, 3)
        write_crops(tmp_path / "crops" / side, "1-1", frames[side], rp.Grid(), 512, rp.DEFAULT_PATTERN)
    assert rp.main([str(tmp_path / "crops"), "-o", str(tmp_path / "pairs")]) == 0
    for side, frame in frames.items():
        assert np.array_equal(read(tmp_path / "pairs" / side / "1-1.png"), frame)
