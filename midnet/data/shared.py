"""Where the shared SEM pairs are, for the repository's scripts, benchmarks and tests.

One variable names the pair folder (the one with blur/ and sharp/): ``MIDNET_DATA``. When it
is unset, the folder is ``shared/data/sem-pairs`` beside the checkout, where
``scripts/rebuild_pairs.py`` writes it (docs/install.md). The shell scripts read the same
variable with the same default; the commands themselves take the folder as ``--data``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_VARIABLE = "MIDNET_DATA"
# midnet/data/shared.py -> the checkout's parent folder, which holds shared/ in a development layout
BESIDE_THE_CHECKOUT = Path(__file__).resolve().parents[3] / "shared" / "data" / "sem-pairs"


def shared_pairs() -> Path:
    """The shared pair folder: ``$MIDNET_DATA``, else ``shared/data/sem-pairs`` beside the checkout."""
    value = os.environ.get(DATA_VARIABLE)
    return Path(value) if value else BESIDE_THE_CHECKOUT
