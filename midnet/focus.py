"""A no-reference focus score: how out of focus a micrograph is, in pixels and nanometres.

Method (spectral falloff). A defocused micrograph is the specimen convolved with a wider
probe. Its radially averaged power spectrum is modelled as

    P(f) = A * f**-alpha * exp(-(2 pi sigma f)**2) + N

a power-law specimen (alpha free), a Gaussian blur of width ``sigma`` pixels and a white
noise floor ``N``, fitted in the log domain to Welch's average of half-overlapping Hann
tiles of 256 px (a frame blurred by more than 16 px is fitted on a 2x2-binned copy, and
so on). ``raw_px`` is that sigma. ``blur_px``, the equivalent Gaussian blur, is
exp(C0 + C1 log(raw_px) - C2 log_snr) with :data:`CALIBRATION` fitted on Gaussian blur
of the seven shared sharp exposures at 9 known widths and 4 noise levels
(docs/results.md section 8, ``scripts/focus_report.py``): on micrographs it never saw
(leave one micrograph out) it is within 3% (median) and 10% (90th percentile) of the
true total blur; on noisy frames a blur under ~2 px reads high (noise hides the roll-off).
It is the *total* blur: the in-focus exposures of the shared set score 1.1-2.1 px.

The alternative we compared, the re-blur gradient ratio at edges (Hu and de Haan 2006;
Zhuo and Sim 2011), is :func:`reblur_sigma`: 2.8x the median error, 10x slower; kept only
for that comparison.

``confidence`` (0..1) is the product of three factors: evidence, 0 when at most 50 and 1
when at least 500 independent Fourier modes of the frame carry specimen power above twice
the noise floor (log scale between); the fit's precision, 1 / (1 + (se(sigma)/sigma/0.25)**2);
and plausibility, 0 when the fitted specimen exponent alpha >= 6 (such a steep spectrum is
smooth shading leaking through the window, not texture). A flat, smooth specimen gets a
low confidence however blurred it looks; below :data:`MIN_CONFIDENCE` the verdict is
``uncertain``.

Verdicts: ``sharp`` up to :data:`SHARP_MAX_PX`, ``worth restoring`` up to
:data:`RESTORE_MAX_PX`, ``too blurred`` beyond: the blurs at which restoring synthetic
blur of the sharp frames with the default model starts and stops gaining 1 dB PSNR.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import MidnetError
from .infobar import InfobarSpec, resolve_infobar
from .io import to_gray_float

TILE = 256  # Welch tile side: frequency resolution 1/256 cycles/px
MIN_TILE = 64  # smaller images carry too few frequencies to fit
N_BINS = 40  # log-spaced radial bins from 2/tile to 0.5 cycles/px
MAX_BIN = 8  # a blur over tile/16 px is fitted on a 2x2-binned copy, and so on up to 8x8
MIN_CONFIDENCE = 0.2  # below: verdict "uncertain"
MODES_NONE, MODES_FULL = 50.0, 500.0  # Fourier modes above the noise: no evidence at 50, full evidence at 500

# Verdict thresholds on blur_px (calibrated: docs/results.md, section 8).
SHARP_MAX_PX = 4.5  # below: restoring gains < 1 dB PSNR (median of the synthetic-blur experiment)
RESTORE_MAX_PX = 21.4  # above: the restoration's gain has fallen below 1 dB again

# blur_px = exp(C0 + C1 * log(raw_px) + C2 * log(noise/signal)); refitted by scripts/focus_report.py
CALIBRATION = (-0.577, 1.048, -0.031)

VERDICTS = ("sharp", "worth restoring", "too blurred", "uncertain")


@dataclass
class SpectralFit:
    """The fitted spectrum model, in the pixels of the image it was measured on."""

    sigma: float  # Gaussian blur, px
    alpha: float  # specimen power-law exponent
    log_amp: float
    log_noise: float  # log of the white-noise variance (gray in 0..1)
    sigma_se: float  # standard error of sigma from the fit
    signal_fraction: float  # fraction of the band 2/tile..0.25 where specimen power > noise
    modes: float  # independent Fourier modes of the frame whose specimen power is above twice the noise
    log_snr: float  # log(structure variance / noise variance) over the band
    bin: int = 1  # the image was binned this many times before fitting


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


def _tile_for(shape: tuple[int, int]) -> int:
    side = min(shape)
    if side < MIN_TILE:
        raise MidnetError(f"image of {shape[0]}x{shape[1]} px is too small to score (at least {MIN_TILE} px a side)")
    return min(TILE, 1 << int(math.log2(side)))


def _starts(length: int, tile: int) -> np.ndarray:
    n = max(1, math.ceil((length - tile) / (tile // 2)) + 1)
    return np.linspace(0, length - tile, n).round().astype(int)


def power_spectrum(gray: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radially averaged power spectrum (Welch: Hann tiles, half overlap).

    Returns each bin's mean frequency, mean power, and how many independent Fourier modes of
    the whole frame it holds (its samples in one tile times the frame's area in tiles).
    """
    from scipy import fft

    ys, xs = _starts(gray.shape[0], tile), _starts(gray.shape[1], tile)
    tiles = np.stack([gray[y : y + tile, x : x + tile] for y in ys for x in xs]).astype(np.float32)
    tiles -= tiles.mean(axis=(1, 2), keepdims=True)
    win = np.hanning(tile).astype(np.float32)
    tiles *= win[:, None] * win[None, :]
    power = (np.abs(fft.rfft2(tiles, workers=-1)) ** 2).mean(axis=0, dtype=np.float64)
    power /= float((win**2).sum()) ** 2
    f = np.hypot(np.fft.fftfreq(tile)[:, None], np.fft.rfftfreq(tile)[None, :]).ravel()
    edges = np.geomspace(2.0 / tile, 0.5, N_BINS + 1)
    idx = np.digitize(f, edges)
    keep = (idx >= 1) & (idx <= N_BINS)
    count = np.bincount(idx[keep], minlength=N_BINS + 1)
    fsum = np.bincount(idx[keep], weights=f[keep], minlength=N_BINS + 1)
    psum = np.bincount(idx[keep], weights=power.ravel()[keep], minlength=N_BINS + 1)
    ok = count >= 3
    modes = count[ok] * (gray.shape[0] * gray.shape[1] / tile**2)
    return fsum[ok] / count[ok], psum[ok] / count[ok], modes


def _model(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    log_amp, alpha, sigma, log_noise = q
    return np.logaddexp(log_amp - alpha * np.log(f) - (2 * np.pi * sigma * f) ** 2, log_noise)


def fit_spectrum(f: np.ndarray, power: np.ndarray, modes: np.ndarray, tile: int) -> SpectralFit:
    """Least-squares fit of the blur model to log power; several starting blurs, the best kept."""
    from scipy.optimize import least_squares

    logp = np.log(np.maximum(power, 1e-30))
    best = None
    for s0 in (1.0, 5.0):  # the fit is well conditioned: one start gives the same sigma on the shared frames
        q0 = [logp[0] + 2 * np.log(f[0]), 2.0, min(s0, tile / 8), float(np.median(logp[-5:]))]
        r = least_squares(lambda q: _model(q, f) - logp, q0,
                          bounds=([-80, 0.0, 0.0, -80], [80, 8.0, tile / 4, 10]))
        if best is None or r.cost < best.cost:
            best = r
    q = best.x
    dof = max(len(f) - 4, 1)
    try:
        cov = np.linalg.pinv(best.jac.T @ best.jac) * (2 * best.cost / dof)
        se = float(np.sqrt(max(cov[2, 2], 0.0)))
    except np.linalg.LinAlgError:  # pragma: no cover - degenerate Jacobian
        se = float("inf")
    signal = np.exp(q[0] - q[1] * np.log(f) - (2 * np.pi * q[2] * f) ** 2)
    noise = math.exp(q[3])
    band = f <= 0.25
    strong = (power > 2 * noise) & (signal > noise)
    above = strong & band
    struct = float(np.clip(power[band] - noise, 0, None).mean())
    return SpectralFit(
        sigma=float(q[2]), alpha=float(q[1]), log_amp=float(q[0]), log_noise=float(q[3]), sigma_se=se,
        signal_fraction=float(above.sum() / max(band.sum(), 1)), modes=float(modes[strong].sum()),
        log_snr=float(np.log(max(struct, 1e-30) / noise)),
    )


def _bin(gray: np.ndarray, b: int) -> np.ndarray:
    h, w = (gray.shape[0] // b) * b, (gray.shape[1] // b) * b
    return gray[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3))


def spectral_sigma(gray: np.ndarray) -> SpectralFit:
    """The spectral fit in full-resolution pixels; large blurs are fitted on a binned copy."""
    b, noise = 1, None
    while True:
        g = _bin(gray, b) if b > 1 else gray
        tile = _tile_for(g.shape)
        f, power, modes = power_spectrum(g, tile)
        fit = fit_spectrum(f, power, modes, tile)
        noise = fit.log_noise if noise is None else noise  # the noise of the full-resolution image
        nxt = 2 * b
        if fit.sigma <= tile / 16 or nxt > MAX_BIN or min(gray.shape) // nxt < MIN_TILE:
            break
        b = nxt
    if b > 1:  # box of b px then subsampling: sigma_b**2 * b**2 = sigma**2 + (b**2 - 1) / 12
        var = (fit.sigma * b) ** 2 - (b * b - 1) / 12.0
        fit.sigma = math.sqrt(max(var, 0.0))
        fit.sigma_se *= b
        fit.bin = b
    fit.log_noise = noise
    return fit


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
        g = _bin(gray, b) if b > 1 else gray
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

def calibrated_px(fit: SpectralFit, calibration: tuple[float, ...] = CALIBRATION) -> float:
    """Equivalent Gaussian blur (px) from the raw fit: a log-linear map of raw sigma and noise/signal."""
    c0, c1, c2 = calibration
    raw = max(fit.sigma, 0.3)  # below a third of a pixel the fit cannot resolve blur
    return float(math.exp(c0 + c1 * math.log(raw) + c2 * (-fit.log_snr)))


def confidence_of(fit: SpectralFit) -> float:
    """Structure evidence x fit precision x plausibility of the specimen's spectrum (module docstring)."""
    evidence = float(np.clip(math.log10(max(fit.modes, 1.0) / MODES_NONE) / math.log10(MODES_FULL / MODES_NONE), 0, 1))
    rel_se = fit.sigma_se / max(fit.sigma, 0.3)
    precision = 1.0 / (1.0 + (rel_se / 0.25) ** 2) if math.isfinite(rel_se) else 0.0
    plausible = float(np.clip(6.0 - fit.alpha, 0.0, 1.0))  # alpha >= 6: leakage of smooth shading, no texture
    return float(np.clip(evidence * precision * plausible, 0.0, 1.0))


def verdict_of(blur_px: float, confidence: float, sharp_max: float = SHARP_MAX_PX,
               restore_max: float = RESTORE_MAX_PX) -> str:
    if confidence < MIN_CONFIDENCE:
        return "uncertain"
    if blur_px <= sharp_max:
        return "sharp"
    return "worth restoring" if blur_px <= restore_max else "too blurred"


def score(array: np.ndarray, infobar: InfobarSpec | str | None = "auto", pixel_size_nm: float | None = None,
          sharp_max: float = SHARP_MAX_PX, restore_max: float = RESTORE_MAX_PX) -> FocusScore:
    """Focus score of one micrograph (2-D gray or H x W x C), info bar excluded.

    ``blur_px`` is the equivalent Gaussian blur in pixels (``blur_nm`` with ``pixel_size_nm``),
    ``confidence`` in 0..1 (see the module's docstring), ``verdict`` one of :data:`VERDICTS`.
    """
    a = np.asarray(array)
    if a.ndim not in (2, 3):
        raise MidnetError(f"cannot score an array of shape {a.shape}; give one gray or colour frame")
    rows = resolve_infobar(infobar, a)
    gray = to_gray_float(a[: a.shape[0] - rows] if rows else a)  # float32: no float64 copy of the frame
    if np.issubdtype(a.dtype, np.floating) and gray.size:
        lo, hi = float(gray.min()), float(gray.max())
        if lo < 0 or hi > 1:  # floats outside 0..1: the noise is then reported on the frame's own range
            gray -= np.float32(lo)
            gray /= np.float32((hi - lo) or 1.0)
    if gray.size == 0 or float(gray.std()) < 1e-6:  # a constant frame: nothing to judge
        return FocusScore(blur_px=float("nan"), confidence=0.0, verdict="uncertain", raw_px=float("nan"), noise=0.0)
    fit = spectral_sigma(gray)
    blur = calibrated_px(fit)
    conf = confidence_of(fit)
    return FocusScore(
        blur_px=blur, confidence=conf, verdict=verdict_of(blur, conf, sharp_max, restore_max), raw_px=fit.sigma,
        noise=math.exp(fit.log_noise / 2), blur_nm=blur * pixel_size_nm if pixel_size_nm else None,
    )


def needs_restoring(array: np.ndarray, threshold: float | None = None,
                    infobar: InfobarSpec | str | None = "auto") -> tuple[bool, FocusScore]:
    """(restore it?, its score) for ``deblur --only-blurry``: restore when blurrer than ``threshold`` px
    (default :data:`SHARP_MAX_PX`) and not too blurred to trust a restoration nor uncertain."""
    s = score(array, infobar=infobar, sharp_max=SHARP_MAX_PX if threshold is None else threshold)
    return s.verdict == "worth restoring", s


def skip_reason(s: FocusScore) -> str:
    """Why ``--only-blurry`` left a frame alone, for the batch's skipped list."""
    why = {"sharp": "sharp", "too blurred": "too blurred to trust a restoration, re-image it",
           "uncertain": "too little structure to judge its focus"}[s.verdict]
    return f"{why} (blur {s.blur_px:.1f} px, confidence {s.confidence:.2f})"


# --- files, tables and the archive report ----------------------------------------------------

CSV_FIELDS = ("file", "page", "blur_px", "blur_nm", "confidence", "verdict", "raw_px", "noise")


def _frames(img) -> list[np.ndarray]:
    """Every 2-D frame of an image (the pages of a TIFF stack), each gray or H x W x C."""
    return list(img.frames()[1])


def score_file(path, infobar: InfobarSpec | str | None = "auto", pixel_size_nm: float | None = None) -> list[dict]:
    """One record per frame of the file (``page`` counts from 0 in stacks, None otherwise)."""
    from .io import read_image
    from .metadata import pixel_size_nm as metadata_pixel_size

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
    """Human-readable: one line a frame."""
    lines = [f"{'file':<40} {'blur px':>8} {'blur nm':>8} {'conf':>5}  verdict"]
    for r in records:
        name = r["file"] + (f"[{r['page']}]" if r["page"] is not None else "")
        nm = f"{r['blur_nm']:.1f}" if r["blur_nm"] is not None else "-"
        lines.append(f"{name:<40} {r['blur_px']:>8.2f} {nm:>8} {r['confidence']:>5.2f}  {r['verdict']}")
    return "\n".join(lines)


def write_csv(records: list[dict], path) -> Path:
    import csv

    from .io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in records:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    return path


_COLOURS = {"sharp": (46, 139, 87), "worth restoring": (230, 150, 30), "too blurred": (200, 50, 50),
            "uncertain": (150, 150, 150)}


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
    for t in (SHARP_MAX_PX, RESTORE_MAX_PX):
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
    from .infobar import resolve_infobar as rows_of
    from .io import read_image

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

    from .io import write_image

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
    any page is worth restoring) and keeps those; :meth:`wrap` scores each restored frame;
    :meth:`compare_writer` labels the before/after picture with both scores; :attr:`skipped`
    (the batch report's format) and :meth:`lines` (before/after blur of each restored file)
    are for the batch's summary.
    """

    def __init__(self, threshold: float | None = None, infobar: InfobarSpec | str | None = "auto"):
        self.threshold = SHARP_MAX_PX if threshold is None else threshold
        self.infobar = infobar
        self.before: dict[Path, FocusScore] = {}
        self.after: dict[Path, FocusScore] = {}
        self.skipped: list[tuple[Path, str]] = []
        self._last: FocusScore | None = None

    def select(self, jobs: list) -> list:
        from .io import read_image

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
        def run(frame):
            out = restore_one(frame)
            restored = out[0] if isinstance(out, tuple) else out
            try:
                self._last = score(restored, infobar=self.infobar, sharp_max=self.threshold)
            except MidnetError:  # too small or flat to score: the restoration itself stands
                self._last = None
            return out

        return run

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
        labels = (f"blurry: blur {b.blur_px:.1f} px", f"restored: {a.blur_px:.1f} px")
        return compare_figure(before, after, path, labels=labels)

    def lines(self) -> list[str]:
        """One line per restored file: its blur before and after (the skipped ones are in :attr:`skipped`)."""
        return [f"scored: {src}: blur {b.blur_px:.1f} px before, {self.after[src].blur_px:.1f} px after restoration"
                for src, b in self.before.items() if src in self.after]
