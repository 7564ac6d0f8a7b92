"""The run's metrics: a CSV of every logged step, plus TensorBoard when it is installed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..images.publish import atomic_write


class MetricsLog:
    """``metrics.csv``; a resumed run first drops the rows after its checkpoint (it writes them again)."""

    FIELDS = ["iteration", "loss", "l1", "edge", "fft", "lr", "val_psnr", "val_ssim", "elapsed_s"]

    def __init__(self, path: Path, resume_from: int):
        self.path = path
        rows = []
        if path.is_file() and resume_from > 0:
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_from]
        with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:  # a kill keeps the old history whole
            writer = csv.DictWriter(f, self.FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(path.parent / "tensorboard"))
        except Exception:  # tensorboard not installed: CSV only
            self.tb = None

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.FIELDS, extrasaction="ignore").writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k != "iteration" and v not in ("", None):
                    self.tb.add_scalar(k, float(v), int(row["iteration"]))
