"""The focus score of ``midnet score``: a verdict on every micrograph, and an archive's report.

Part of quality/: the blur width and its confidence come from midnet/quality/blur.py (the
spectral-falloff fit, its calibration and what its confidence means); this module turns them
into a verdict, scores files and folders, and writes the CSV, the table and the report.

Verdicts: ``uncertain`` below :data:`MIN_CONFIDENCE`; else ``sharp`` up to
:data:`SHARP_MAX_PX`, ``borderline`` below :data:`WORTH_MIN_PX`, ``worth restoring`` up to
:data:`RESTORE_MAX_PX`, ``too blurred`` beyond. The first two lines are calibrated on what the
fold models of the shipped model gain on micrographs they never saw, over the blur sweep
(docs/results.md section 11.4, ``scripts/triage_calibration.py``): no frame restoring improved
by 0.5 dB or more scored as low as ``SHARP_MAX_PX``, and no frame restoring harmed scored as
high as ``WORTH_MIN_PX``. Where the two overlap (1.1 helped some frames and harmed others at
4.1-5.1 px), ``borderline`` says so and ``--only-blurry`` leaves them alone; for 2.0, which
harmed no frame, the band is closed and the two lines are one.

:func:`reblur_sigma`, the re-blur gradient ratio at edges (Hu and de Haan 2006; Zhuo and
Sim 2011), is the alternative the spectral fit was compared with (docs/results.md section
8); it is kept only for that comparison.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .blur import bin_down, estimate, spectral_sigma
from ..choices import WORTH_RESTORING_PX
from ..errors import MidnetError
from ..images.infobar import InfobarSpec, resolve_infobar
from ..images.io import to_gray_float

MIN_CONFIDENCE = 0.2  # below: verdict "uncertain"

# Verdict thresholds on blur_px (the module docstring says how they were calibrated).
SHARP_MAX_PX = 1.7  # up to here: no frame gained 0.5 dB from restoring (2.0's fold models helped from 1.71 px)
WORTH_MIN_PX = WORTH_RESTORING_PX  # from here: no frame was harmed by restoring (2.0's fold models harmed none)
RESTORE_MAX_PX = 21.4  # above: the restoration's gain has fallen below 1 dB again (docs/results.md section 8)

VERDICTS = ("sharp", "borderline", "worth restoring", "too blurred", "uncertain")


@dataclass
class FocusScore:
    blur_px: float
    confidence: float
    verdict: str
    raw_px: float
    noise: float  # noise standard deviation, fraction of full scale
    blur_nm: float | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        for key in ("blur_px", "raw_px", "blur_nm"):
            if d[key] is not None:
                d[key] = round(d[key], 3)
        d["confidence"] = round(d["confidence"], 3)
        d["noise"] = round(d["noise"], 5)
        return d


# --- the comparison estimator: re-blur gradient ratio at edges -------------------------------

def _gradient(gray: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy import ndimage as ndi

    g = ndi.gaussian_filter(gray, sigma, mode="reflect", truncate=3.0)
    gy, gx = np.gradient(g)
    return np.hypot(gx, gy), gx, gy


def _edge_maxima(mag: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Pixels that are maxima of ``mag`` along their (quantised) gradient direction."""
    q = np.round(np.mod(np.arctan2(gy, gx), np.pi) / (np.pi / 4)).astype(int) % 4
    p = np.pad(mag, 1, mode="edge")
    h, w = mag.shape
    keep = np.zeros(mag.shape, bool)
    for k, (dy, dx) in enumerate([(0, 1), (1, 1), (1, 0), (1, -1)]):
        ahead = p[1 + dy : h + 1 + dy, 1 + dx : w + 1 + dx]
        behind = p[1 - dy : h + 1 - dy, 1 - dx : w + 1 - dx]
        keep |= (q == k) & (mag >= ahead) & (mag > behind)
    keep[:6], keep[-6:], keep[:, :6], keep[:, -6:] = False, False, False, False
    return keep


def reblur_sigma(gray: np.ndarray, iterations: int = 4) -> float:
    """Gaussian blur from the gradient ratio of the image and a re-blurred copy at its edges.

    At an edge blurred by s, smoothing by ``sp`` and re-blurring by ``sr`` scale the peak
    gradient by sqrt(s**2 + sp**2) / sqrt(s**2 + sp**2 + sr**2); the ratio gives s. The median
    over edge maxima above 4x the noise's gradient is kept; ``sp`` and ``sr`` follow the
    estimate (and the image is binned for wide blurs) for a few iterations. NaN when
    fewer than 20 edges stand above the noise.
    """
    noise = math.exp(spectral_sigma(gray).log_noise / 2)
    rng = np.random.default_rng(1)
    s = 3.0
    for _ in range(iterations):
        b = max(1, int(s // 3))
        g = bin_down(gray, b) if b > 1 else gray
        sb = math.sqrt(max(s * s - (b * b - 1) / 12, 0.25)) / b
        sp, sr = round(float(np.clip(0.7 * sb, 0.8, 3.0)), 1), max(1.0, sb)
        g0, gx, gy = _gradient(g, sp)
        g1 = _gradient(g, math.hypot(sp, sr))[0]
        noise_grad = float(np.sqrt((_gradient(rng.normal(0, 1, (128, 128)), sp)[0][16:-16, 16:-16] ** 2).mean()))
        edges = _edge_maxima(g0, gx, gy) & (g0 > 4 * noise / b * noise_grad)
        ratio = g0[edges] / np.maximum(g1[edges], 1e-12)
        if ratio.size < 20:
            return float("nan")
        total = float(np.median(sr / np.sqrt(np.maximum(ratio**2 - 1, 1e-6))))
        s_new = math.sqrt(max(total**2 - sp**2, 0.0) * b * b + (b * b - 1) / 12)
        done, s = abs(s_new - s) < 0.05 * s, s_new
        if done:
            break
    return s


# --- calibrated score, confidence, verdict ---------------------------------------------------

def verdict_of(blur_px: float, confidence: float, sharp_max: float = SHARP_MAX_PX,
               restore_max: float = RESTORE_MAX_PX, worth_min: float = WORTH_MIN_PX) -> str:
    """The verdict of one score; a ``worth_min`` below ``sharp_max`` is ``sharp_max`` (one line, no band)."""
    if confidence < MIN_CONFIDENCE:
        return "uncertain"
    if blur_px <= sharp_max:
        return "sharp"
    if blur_px < worth_min:
        return "borderline"
    return "worth restoring" if blur_px <= restore_max else "too blurred"


def score(array: np.ndarray, infobar: InfobarSpec | str | None = "auto", pixel_size_nm: float | None = None,
          sharp_max: float = SHARP_MAX_PX, restore_max: float = RESTORE_MAX_PX,
          worth_min: float = WORTH_MIN_PX) -> FocusScore:
    """Focus score of one micrograph (2-D gray or H x W x C), info bar excluded.

    ``blur_px`` is the equivalent Gaussian blur in pixels (``blur_nm`` with ``pixel_size_nm``),
    ``confidence`` in 0..1 (what it weighs: midnet/quality/blur.py), ``verdict`` one of :data:`VERDICTS`.
    """
    a = np.asarray(array)
    if a.ndim not in (2, 3):
        raise MidnetError(f"cannot score an array of shape {a.shape}; give one gray or colour frame")
    rows = resolve_infobar(infobar, a)
    measured = estimate(to_gray_float(a[: a.shape[0] - rows] if rows else a))
    if measured.fit is None:  # a constant frame: nothing to judge
        return FocusScore(blur_px=float("nan"), confidence=0.0, verdict="uncertain", raw_px=float("nan"), noise=0.0)
    blur, conf = measured.blur_px, measured.confidence
    return FocusScore(
        blur_px=blur, confidence=conf, verdict=verdict_of(blur, conf, sharp_max, restore_max, worth_min),
        raw_px=measured.fit.sigma, noise=math.exp(measured.fit.log_noise / 2),
        blur_nm=blur * pixel_size_nm if pixel_size_nm else None,
    )


def needs_restoring(array: np.ndarray, threshold: float | None = None,
                    infobar: InfobarSpec | str | None = "auto") -> tuple[bool, FocusScore]:
    """(restore it?, its score) for ``deblur --only-blurry``: restore what is worth restoring, from
    :data:`WORTH_MIN_PX` (or above a user's ``threshold``, which then stands for both lines), and not
    too blurred to trust a restoration nor uncertain."""
    if threshold is None:
        s = score(array, infobar=infobar)
    else:
        s = score(array, infobar=infobar, sharp_max=threshold, worth_min=threshold)
    return s.verdict == "worth restoring", s


def skip_reason(s: FocusScore) -> str:
    """Why ``--only-blurry`` left a frame alone, for the batch's skipped list."""
    why = {"sharp": "sharp", "too blurred": "too blurred to trust a restoration, re-image it",
           "borderline": "borderline: at this blur restoring helped some frames and harmed others",
           "uncertain": "too little structure to judge its focus"}[s.verdict]
    return f"{why} (blur {s.blur_px:.1f} px, confidence {s.confidence:.2f})"


# --- files, tables and the archive report ----------------------------------------------------

CSV_FIELDS = ("file", "page", "blur_px", "blur_nm", "confidence", "verdict", "raw_px", "noise")


def _frames(img) -> list[np.ndarray]:
    """Every 2-D frame of an image (the pages of a TIFF stack), each gray or H x W x C."""
    return list(img.frames()[1])


def score_file(path, infobar: InfobarSpec | str | None = "auto", pixel_size_nm: float | None = None) -> list[dict]:
    """One record per frame of the file (``page`` counts from 0 in stacks, None otherwise)."""
    from ..images.io import read_image
    from ..images.metadata import pixel_size_nm as metadata_pixel_size

    img = read_image(path)
    nm = pixel_size_nm if pixel_size_nm else metadata_pixel_size(img)
    frames = _frames(img)
    records = []
    for i, frame in enumerate(frames):
        rec = {"file": str(path), "page": i if len(frames) > 1 else None}
        rec.update(score(frame, infobar=infobar, pixel_size_nm=nm).as_dict())
        records.append(rec)
    return records


def blur_key(record: dict) -> float:
    """blur_px for sorting: a frame that could not be judged (NaN) counts as the least blurred."""
    b = record.get("blur_px")
    return b if b is not None and math.isfinite(b) else -1.0


def summary(records: list[dict]) -> str:
    counts = {v: sum(r["verdict"] == v for r in records) for v in VERDICTS}
    return f"{len(records)} scored: " + ", ".join(f"{n} {v}" for v, n in counts.items())


def table(records: list[dict]) -> str:
    """Human-readable: one line a frame, the file last, so that a long path never pushes the columns apart
    (an odd name, one with a line break say, is quoted: each frame stays one line)."""
    from ..images.batch import shown

    width = max(len(v) for v in VERDICTS)
    lines = [f"{'blur px':>8} {'blur nm':>8} {'conf':>5}  {'verdict':<{width}}  file"]
    for r in records:
        name = shown(r["file"]) + (f"[{r['page']}]" if r["page"] is not None else "")
        nm = f"{r['blur_nm']:.1f}" if r["blur_nm"] is not None else "-"
        lines.append(f"{r['blur_px']:>8.2f} {nm:>8} {r['confidence']:>5.2f}  {r['verdict']:<{width}}  {name}")
    return "\n".join(lines)


def write_csv(records: list[dict], path) -> Path:
    import csv

    from ..images.publish import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in records:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    return path


_COLOURS = {"sharp": (46, 139, 87), "borderline": (190, 170, 40), "worth restoring": (230, 150, 30),
            "too blurred": (200, 50, 50), "uncertain": (150, 150, 150)}


def _histogram(records: list[dict], width: int = 900, height: int = 300):
    """Histogram of blur_px, bars coloured by verdict, the verdict thresholds as lines."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    left, bottom, top, right = 50, height - 40, 30, width - 20
    top_px = max(RESTORE_MAX_PX * 1.25, max((blur_key(r) for r in records), default=0) * 1.05)
    step = max(0.5, round(top_px / 40 * 2) / 2)
    nbins = int(math.ceil(top_px / step))
    counts = np.zeros((nbins, len(VERDICTS)), int)
    for r in records:
        if r["blur_px"] is not None and math.isfinite(r["blur_px"]):
            counts[min(int(r["blur_px"] / step), nbins - 1), VERDICTS.index(r["verdict"])] += 1
    peak = max(int(counts.sum(axis=1).max()), 1)
    x_of = lambda px: left + (right - left) * px / (nbins * step)  # noqa: E731
    y_of = lambda n: bottom - (bottom - top) * n / peak  # noqa: E731
    for i in range(nbins):
        base = 0
        for j, v in enumerate(VERDICTS):
            if counts[i, j]:
                draw.rectangle([x_of(i * step) + 1, y_of(base + counts[i, j]), x_of((i + 1) * step) - 1, y_of(base)],
                               fill=_COLOURS[v])
                base += counts[i, j]
    draw.line([left, bottom, right, bottom], fill=0)
    draw.line([left, bottom, left, top], fill=0)
    for px in range(0, int(nbins * step) + 1, max(1, int(nbins * step) // 10)):
        draw.text((x_of(px) - 4, bottom + 4), str(px), fill=0)
    for t in (SHARP_MAX_PX, WORTH_MIN_PX, RESTORE_MAX_PX):
        for y in range(top, bottom, 8):
            draw.line([x_of(t), y, x_of(t), y + 4], fill=(60, 60, 60))
    draw.text((left, bottom + 20), "estimated blur (equivalent Gaussian sigma, px); dashed: verdict thresholds", fill=0)
    draw.text((5, top - 20), f"frames (max {peak} a bin); {summary(records)}", fill=0)
    x = right - 150
    for v in VERDICTS:
        draw.rectangle([x, top, x + 10, top + 10], fill=_COLOURS[v])
        draw.text((x + 14, top), v, fill=0)
        top += 14
    return im


def _thumbnail(rec: dict, infobar, width: int):
    from PIL import Image, ImageDraw

    from .figures import to_display
    from ..images.infobar import resolve_infobar as rows_of
    from ..images.io import read_image

    img = read_image(rec["file"])
    frame = _frames(img)[rec["page"] or 0]
    rows = rows_of(infobar, frame)
    view = Image.fromarray(to_display(frame[: frame.shape[0] - rows] if rows else frame)).convert("RGB")
    view = view.resize((width, max(1, round(view.height * width / view.width))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, view.height + 30), "white")
    canvas.paste(view, (0, 30))
    draw = ImageDraw.Draw(canvas)
    p = Path(rec["file"])
    name = f"{p.parent.name}/{p.name}" + (f"[{rec['page']}]" if rec["page"] is not None else "")
    draw.text((2, 2), name[:40], fill=0)
    label = f"{rec['blur_px']:.1f} px, conf {rec['confidence']:.2f}, {rec['verdict']}"
    draw.text((2, 15), label, fill=_COLOURS[rec["verdict"]])
    return canvas


def write_report(records: list[dict], folder, infobar: InfobarSpec | str | None = "auto", worst: int = 8) -> list:
    """``focus.csv`` and ``focus_report.png`` (histogram, thumbnails of the blurriest) in ``folder``."""
    from PIL import Image

    from ..images.io import write_image

    folder = Path(folder)
    csv_path = write_csv(sorted(records, key=lambda r: -blur_key(r)), folder / "focus.csv")
    hist = _histogram(records)
    judged = [r for r in records if r["verdict"] != "uncertain"]
    blurriest = sorted(judged, key=lambda r: -blur_key(r))[:worst]
    thumbs = [_thumbnail(r, infobar, (hist.width - 30) // 4) for r in blurriest]
    rows = [thumbs[i : i + 4] for i in range(0, len(thumbs), 4)]
    height = hist.height + 24 + sum(max(t.height for t in row) + 10 for row in rows)
    page = Image.new("RGB", (hist.width, height), "white")
    page.paste(hist, (0, 0))
    y = hist.height + 24
    if rows:
        from PIL import ImageDraw

        ImageDraw.Draw(page).text((10, hist.height + 6), f"the {len(blurriest)} blurriest frames", fill=0)
    for row in rows:
        for i, t in enumerate(row):
            page.paste(t, (10 + i * (t.width + 3), y))
        y += max(t.height for t in row) + 10
    png = write_image(folder / "focus_report.png", np.asarray(page), fmt="png")
    return [csv_path, png]


# --- midnet deblur --only-blurry -------------------------------------------------------------

class OnlyBlurry:
    """``deblur --only-blurry``: restore only the files the score says need it, and say so.

    :meth:`select` scores every job's source (every page of a stack; a file is restored when
    any page is worth restoring) and keeps those; :meth:`score_restored` (or :meth:`wrap` around
    a restorer) scores each restored frame; :meth:`compare_writer` labels the before/after picture
    with both scores; :attr:`skipped` (the batch report's format) and :meth:`lines` (before/after
    blur of each restored file) are for the batch's summary.
    """

    def __init__(self, threshold: float | None = None, infobar: InfobarSpec | str | None = "auto"):
        self.threshold = threshold  # None: the calibrated lines (SHARP_MAX_PX, WORTH_MIN_PX)
        self.infobar = infobar
        self.before: dict[Path, FocusScore] = {}
        self.after: dict[Path, FocusScore] = {}
        self.skipped: list[tuple[Path, str]] = []
        self._last: FocusScore | None = None

    def select(self, jobs: list) -> list:
        from ..images.io import read_image

        kept = []
        for job in jobs:
            try:
                frames = _frames(read_image(job.source))
                scores = [needs_restoring(f, self.threshold, self.infobar) for f in frames]
            except MidnetError:
                kept.append(job)  # unreadable or unscorable: the batch restores it or reports it as it always does
                continue
            restore = [s for ok, s in scores if ok]
            if restore:
                self.before[job.source] = max(restore, key=lambda s: s.blur_px)
                kept.append(job)
            else:
                worst = max((s for _, s in scores), key=lambda s: s.blur_px if math.isfinite(s.blur_px) else -1)
                self.skipped.append((job.source, f"{job.source}: {skip_reason(worst)}; not restored (--only-blurry)"))
        return kept

    def wrap(self, restore_one):
        """``restore_one`` scoring each frame it restores (:meth:`score_restored`)."""
        def run(frame):
            out = restore_one(frame)
            self.score_restored(out)
            return out

        return run

    def score_restored(self, out, rows: int | None = None) -> None:
        """Keep the focus score of a restored frame (``out``, or (frame, spread)) for :meth:`file_done`. ``rows``:
        its info bar, resolved once for the whole frame pipeline (midnet/pipeline.py; the restorer copies the
        input's bar unchanged); None: resolve :attr:`infobar` on the restored frame."""
        restored = out[0] if isinstance(out, tuple) else out
        try:
            self._last = needs_restoring(restored, self.threshold, self.infobar if rows is None else rows)[1]
        except MidnetError:  # too small or flat to score: the restoration itself stands
            self._last = None

    def file_done(self, job, status: str) -> None:
        if status == "restored" and self._last is not None:
            self.after[job.source] = self._last
        self._last = None

    def compare_writer(self, before: np.ndarray, after: np.ndarray, path) -> Path:
        from .figures import compare_figure

        try:
            b, a = (score(x, infobar=self.infobar) for x in (before, after))
        except MidnetError:  # too small or flat to score: the picture without the figures
            return compare_figure(before, after, path)
        labels = (f"input: blur {b.blur_px:.1f} px", f"restored: {a.blur_px:.1f} px")
        return compare_figure(before, after, path, labels=labels)

    def lines(self) -> list[str]:
        """One line per restored file: its blur before and after (the skipped ones are in :attr:`skipped`)."""
        return [f"scored: {src}: blur {b.blur_px:.1f} px before, {self.after[src].blur_px:.1f} px after restoration"
                for src, b in self.before.items() if src in self.after]
