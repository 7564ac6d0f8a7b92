"""Reproduce docs/results.md section 8: the focus score, its calibration, thresholds and figures.

    python scripts/focus_report.py                      # every stage; cached results in runs/focus/
    python scripts/focus_report.py --stages real        # one stage

Stages:
  synthetic   the shared sharp frames blurred by known Gaussian widths at several noise levels:
              the spectral fit and the re-blur gradient ratio, the calibration of blur_px
              (refitted, leave-one-micrograph-out errors), variance of the Laplacian and
              skimage's blur_effect on the same images; docs/images/focus_synthetic.png
  thresholds  centre crops of the sharp frames blurred at known widths, restored by the default
              model: the blur at which the restoration stops gaining 1 dB PSNR, on each side
  real        the seven pairs: sharp, blurry and restored frames by the three measures, and
              the blur against the restoration's held-out gain; docs/images/focus_real.png
  archive     `midnet score --report` on the fourteen real frames; docs/images/focus_archive.png
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from midnet.quality import blur, focus  # noqa: E402
from midnet.data.shared import shared_pairs  # noqa: E402
from midnet.images.infobar import resolve_infobar  # noqa: E402
from midnet.images.io import read_image, to_gray_float  # noqa: E402
from midnet.inference.settings import EXACT  # noqa: E402

WIDTHS = (0, 1, 2, 3, 4.5, 6, 8, 11, 16)  # added Gaussian blur, px
NOISE = (0, 3, 6, 9)  # added Gaussian noise, 8-bit gray levels (0: the 8-bit quantisation only)
REBLUR_FRAMES = ("1-1", "3-1", "6-1", "9-1")  # the slower re-blur method on a subset
REBLUR_NOISE = (3, 6)
THRESHOLD_WIDTHS = (0, 2, 3, 4, 6, 8, 11, 16, 22, 30)
MIN_GAIN_DB = 1.0  # "worth restoring": the restoration gains at least this much PSNR
# Held-out gain of MIDNet-s over the blurry input (PSNR dB), docs/results.md section 1 (3-fold by micrograph).
HELD_OUT_GAIN = {"1-1": 4.66, "2-1": 4.44, "3-1": 3.71, "5-1": 4.20, "6-1": 3.44, "7-1": 3.91, "9-1": 2.04}


def gray_frame(path: Path) -> np.ndarray:
    a = read_image(path).array
    rows = resolve_infobar("auto", a)
    return to_gray_float(a[: a.shape[0] - rows]).astype(np.float64)


def degrade(sharp: np.ndarray, width: float, noise: float, rng) -> np.ndarray:
    """Gaussian blur of ``width`` px, Gaussian noise of ``noise`` gray levels, 8-bit quantisation."""
    b = ndi.gaussian_filter(sharp, width, mode="reflect") if width else sharp
    return np.clip(np.round((b + rng.normal(0, noise / 255, b.shape)) * 255), 0, 255) / 255


def other_measures(gray: np.ndarray) -> dict:
    from skimage.measure import blur_effect

    return {"varlap": float(ndi.laplace(gray).var()), "blur_effect": float(blur_effect(gray))}


def cached(work: Path, name: str, compute):
    path = work / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    t = time.time()
    value = compute()
    path.write_text(json.dumps(value))
    print(f"[{name}: {time.time() - t:.0f} s, cached in {path}]", file=sys.stderr)
    return value


# ------------------------------------------------------------------ synthetic


def synthetic_records(data: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for path in sorted((data / "sharp").glob("*.png")):
        sharp = gray_frame(path)
        for w in WIDTHS:
            for nz in NOISE:
                g = degrade(sharp, w, nz, rng)
                rec = {"frame": path.stem, "w": w, "nz": nz, "fit": asdict(blur.spectral_sigma(g))}
                rec.update(other_measures(g))
                if path.stem in REBLUR_FRAMES and nz in REBLUR_NOISE:
                    rec["reblur"] = focus.reblur_sigma(g)
                out.append(rec)
        print(f"synthetic: {path.stem} done", file=sys.stderr)
    return out


def add_truth(records: list[dict]) -> None:
    """True total blur sqrt(s0**2 + w**2); s0, the sharp frame's own blur, is its raw fit as stored."""
    s0 = {r["frame"]: r["fit"]["sigma"] for r in records if r["w"] == 0 and r["nz"] == 0}
    for r in records:
        r["s0"] = s0[r["frame"]]
        r["true"] = math.hypot(s0[r["frame"]], r["w"])


def usable(r: dict) -> bool:
    """Left out of the calibration: a 1 px blur with no added noise, where the sharp exposure's own noise,
    blurred by 1 px, has the shape of a Gaussian roll-off and is fitted as the blur (section 8)."""
    return not (r["nz"] == 0 and r["w"] == 1)


def features(value: float, r: dict, form: str) -> list[float]:
    lr = math.log(max(value, 0.3))
    return [1.0, lr, -r["fit"]["log_snr"]] if form == "snr" else [1.0, lr]


def fit_calibration(records: list[dict], key, form: str) -> np.ndarray:
    x = np.array([features(key(r), r, form) for r in records])
    y = np.log([r["true"] for r in records])
    return np.linalg.lstsq(x, y, rcond=None)[0]


def leave_one_out(records: list[dict], key, form: str) -> dict:
    """Calibrated estimate of every record by the calibration fitted without its micrograph."""
    pred = {}
    for frame in sorted({r["frame"] for r in records}):
        coef = fit_calibration([r for r in records if r["frame"] != frame], key, form)
        for i, r in enumerate(records):
            if r["frame"] == frame:
                pred[i] = math.exp(float(np.dot(features(key(r), r, form), coef)))
    return pred


def error_rows(records: list[dict], pred: dict, group: str) -> list[str]:
    rows = []
    for value in sorted({r[group] for r in records}):
        idx = [i for i, r in enumerate(records) if r[group] == value]
        rel = np.array([pred[i] / records[i]["true"] - 1 for i in idx])
        rho = f"{spearmanr([pred[i] for i in idx], [records[i]['true'] for i in idx])[0]:.3f} | " if group == "nz" else ""
        rows.append(f"| {value:g} | {len(idx)} | {rho}{np.mean(rel):+.3f} | {np.median(np.abs(rel)):.3f} | "
                    f"{np.percentile(np.abs(rel), 90):.3f} | {np.abs(rel).max():.3f} |")
    return rows


def summary_line(name: str, records: list[dict], pred: dict) -> str:
    est = np.array([pred[i] for i in range(len(records)) if i in pred])
    true = np.array([r["true"] for i, r in enumerate(records) if i in pred])
    rel = est / true - 1
    return (f"| {name} | {len(est)} | {spearmanr(est, true)[0]:.3f} | {np.median(np.abs(rel)):.3f} | "
            f"{np.percentile(np.abs(rel), 90):.3f} | {np.abs(rel).max():.3f} |")


def stage_synthetic(data: Path, work: Path, images: Path) -> dict:
    records = cached(work, "synthetic", lambda: synthetic_records(data))
    add_truth(records)
    calib = [r for r in records if usable(r)]
    spectral = lambda r: r["fit"]["sigma"]  # noqa: E731
    coef = fit_calibration(calib, spectral, "snr")
    print(f"\ncalibration (all seven micrographs): CALIBRATION = ({coef[0]:.3f}, {coef[1]:.3f}, {coef[2]:.3f})"
          f"   [in midnet/quality/blur.py: {blur.CALIBRATION}]")
    pred = leave_one_out(calib, spectral, "snr")
    head = "| {} | cases | Spearman | mean rel. error | median abs. | 90th pct abs. | max abs. |\n| --- | --- | --- | --- | --- | --- | --- |"
    print("\nspectral blur_px, leave-one-micrograph-out calibration, by added noise (gray levels):")
    print(head.format("noise") + "\n" + "\n".join(error_rows(calib, pred, "nz")))
    print("\nby added width (px):")
    print(head.format("width").replace(" Spearman |", "").replace(" --- |", "", 1) + "\n"
          + "\n".join(error_rows(calib, pred, "w")))
    raw_rel = [r["fit"]["sigma"] / r["true"] - 1 for r in calib if r["w"] > 0]
    print(f"\nraw (uncalibrated) fit: median rel. error {np.median(raw_rel):+.3f}")
    sub = [r for r in calib if "reblur" in r and np.isfinite(r["reblur"])]
    print("\nthe two estimators on the same subset (micrographs " + ", ".join(REBLUR_FRAMES)
          + f"; noise {REBLUR_NOISE}; both calibrated leave-one-micrograph-out, log-linear in the raw width):")
    print("| estimator | cases | Spearman | median abs. rel. error | 90th pct | max |\n| --- | --- | --- | --- | --- | --- |")
    print(summary_line("spectral falloff (kept)", sub, leave_one_out(sub, spectral, "raw")))
    print(summary_line("re-blur gradient ratio", sub, leave_one_out(sub, lambda r: r["reblur"], "raw")))
    print(f"(re-blur NaN on {sum(1 for r in calib if 'reblur' in r and not np.isfinite(r['reblur']))} cases)")
    measures_table(records, pred, calib)
    confidence_table(records)
    figure_synthetic(calib, pred, sub, leave_one_out(sub, lambda r: r["reblur"], "raw"), images / "focus_synthetic.png")
    return {"coef": coef.tolist()}


def measures_table(records: list[dict], pred: dict, calib: list[dict]) -> None:
    """Rank correlation with the true blur of the three measures, per noise level and pooled."""
    print("\nSpearman rank correlation with the true blur, same images (blur_effect: higher = blurrer; "
          "variance of the Laplacian: lower = blurrer, so its sign is flipped):")
    print("| noise | midnet blur_px | blur_effect | -variance of Laplacian |\n| --- | --- | --- | --- |")
    for nz in list(NOISE) + ["pooled"]:
        idx = [i for i, r in enumerate(calib) if nz == "pooled" or r["nz"] == nz]
        true = [calib[i]["true"] for i in idx]
        cells = [spearmanr([pred[i] for i in idx], true)[0], spearmanr([calib[i]["blur_effect"] for i in idx], true)[0],
                 spearmanr([-calib[i]["varlap"] for i in idx], true)[0]]
        print(f"| {nz} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for w in (0, 2, 4.5):  # does noise alone move the measure as much as blur?
        row = [r for r in records if r["w"] == w]
        print(f"w={w:g}: blur_effect {np.mean([r['blur_effect'] for r in row if r['nz'] == 0]):.3f} (no noise) -> "
              f"{np.mean([r['blur_effect'] for r in row if r['nz'] == 9]):.3f} (9 levels); variance of Laplacian "
              f"{np.mean([r['varlap'] for r in row if r['nz'] == 0]):.2e} -> {np.mean([r['varlap'] for r in row if r['nz'] == 9]):.2e}")


def flat_images(n: int = 512) -> dict:
    """Generated specimens without texture: what the confidence must flag."""
    y, x = np.mgrid[0:n, 0:n] / n
    rng = np.random.default_rng(3)
    return {"ramp": 0.3 + 0.3 * x, "smooth waves": 0.5 + 0.2 * np.sin(3 * np.pi * x) * np.cos(2.4 * np.pi * y),
            "shading + one blob": 0.4 + 0.1 * y + 0.2 * np.exp(-((x - 0.5) ** 2 + (y - 0.4) ** 2) / 0.02),
            "constant": np.full((n, n), 0.4), "noise blurred 25 px": ndi.gaussian_filter(rng.uniform(0, 1, (n, n)), 25) * 8 - 3.5}


def confidence_table(records: list[dict]) -> None:
    conf = np.array([blur.confidence_of(blur.SpectralFit(**r["fit"])) for r in records])
    print(f"\nconfidence on the synthetic SEM frames: min {conf.min():.2f}, median {np.median(conf):.2f}; by width: "
          + ", ".join(f"{w:g}: {np.min([c for c, r in zip(conf, records) if r['w'] == w]):.2f}" for w in WIDTHS) + " (min)")
    rng = np.random.default_rng(4)
    print("generated 512 px frames without texture (confidence at noise 0 / 2 / 6 levels; verdict at 6):")
    for name, img in flat_images().items():
        scores = [focus.score(np.round(degrade(img, 0, nz, rng) * 255).astype(np.uint8), infobar="none") for nz in (0, 2, 6)]
        print(f"  {name}: " + " / ".join(f"{s.confidence:.2f}" for s in scores) + f"; {scores[-1].verdict}")


# ------------------------------------------------------------------ figures


def _axes(draw, box, lo, hi, label_x, label_y, title):
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=0)
    span = math.log(hi / lo)
    to_x = lambda v: x0 + (x1 - x0) * math.log(v / lo) / span  # noqa: E731
    to_y = lambda v: y1 - (y1 - y0) * math.log(v / lo) / span  # noqa: E731
    for t in (1, 2, 4, 8, 16, 32):
        if lo <= t <= hi:
            draw.line([to_x(t), y1, to_x(t), y1 + 4], fill=0)
            draw.text((to_x(t) - 4, y1 + 6), str(t), fill=0)
            draw.line([x0 - 4, to_y(t), x0, to_y(t)], fill=0)
            draw.text((x0 - 22, to_y(t) - 5), str(t), fill=0)
    draw.line([to_x(lo), to_y(lo), to_x(hi), to_y(hi)], fill=(160, 160, 160))
    draw.text((x0 + 60, y1 + 22), label_x, fill=0)
    draw.text((x0, y0 - 28), title, fill=0)
    draw.text((x0, y0 - 15), label_y, fill=0)
    return to_x, to_y


NOISE_COLOURS = {0: (30, 30, 30), 3: (40, 110, 200), 6: (230, 140, 20), 9: (200, 40, 40)}


def figure_synthetic(calib, pred, sub, pred_reblur, path: Path) -> None:
    im = Image.new("RGB", (1120, 520), "white")
    draw = ImageDraw.Draw(im)
    panels = [("spectral falloff (midnet score), all seven micrographs", calib, pred),
              ("re-blur gradient ratio, four micrographs", sub, pred_reblur)]
    lo, hi = 0.8, 32.0
    for k, (title, recs, p) in enumerate(panels):
        box = (70 + k * 550, 60, 70 + k * 550 + 420, 480)
        to_x, to_y = _axes(draw, box, lo, hi, "true total blur sqrt(s0^2 + w^2), px (log)",
                           "estimated blur_px (calibrated leave-one-micrograph-out), px (log)", title)
        for i, r in enumerate(recs):
            if i in p and np.isfinite(p[i]):
                x, y = to_x(min(max(r["true"], lo), hi)), to_y(min(max(p[i], lo), hi))
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=NOISE_COLOURS[r["nz"]])
    for j, (nz, c) in enumerate(NOISE_COLOURS.items()):
        draw.rectangle([80, 70 + 16 * j, 88, 78 + 16 * j], fill=c)
        draw.text((92, 68 + 16 * j), f"noise {nz} gray levels", fill=0)
    im.save(path)
    print(f"wrote {path}", file=sys.stderr)


# ------------------------------------------------------------------ thresholds


def threshold_records(data: Path) -> list[dict]:
    import midnet
    from midnet.quality.metrics import psnr

    rng = np.random.default_rng(1)
    out = []
    for path in sorted((data / "sharp").glob("*.png")):
        sharp = gray_frame(path)
        h, w = sharp.shape
        crop = sharp[(h - 512) // 2 : (h + 512) // 2, (w - 512) // 2 : (w + 512) // 2]
        ref = np.round(crop * 255).astype(np.uint8)
        for width in THRESHOLD_WIDTHS:
            blurry = np.round(degrade(crop, width, 6, rng) * 255).astype(np.uint8)
            restored = midnet.deblur(blurry, infobar="none", **EXACT)
            out.append({"frame": path.stem, "w": width, "fit": asdict(blur.spectral_sigma(blurry / 255.0)),
                        "gain": psnr(ref, restored) - psnr(ref, blurry)})
        print(f"thresholds: {path.stem} done", file=sys.stderr)
    return out


def crossing(xs, ys, level: float, rising: bool) -> float:
    """First x (log-interpolated) where ys crosses ``level`` upwards (rising) or downwards."""
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if (y0 < level <= y1) if rising else (y0 >= level > y1):
            t = (level - y0) / (y1 - y0)
            return math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
    return float("nan")


def stage_thresholds(data: Path, work: Path, coef) -> None:
    records = cached(work, "thresholds", lambda: threshold_records(data))
    coef = tuple(coef) if coef is not None else blur.CALIBRATION
    print("\nrestoring synthetic blur (512 px centre crops of the seven sharp frames, noise 6 levels, default model):")
    print("| added width px | blur_px (median, range) | PSNR gain dB (median, range) |\n| --- | --- | --- |")
    med_blur, med_gain = [], []
    for width in THRESHOLD_WIDTHS:
        rows = [r for r in records if r["w"] == width]
        widths = [blur.calibrated_px(blur.SpectralFit(**r["fit"]), coef) for r in rows]
        gain = [r["gain"] for r in rows]
        med_blur.append(float(np.median(widths)))
        med_gain.append(float(np.median(gain)))
        print(f"| {width:g} | {np.median(widths):.2f} ({min(widths):.2f}-{max(widths):.2f}) | "
              f"{np.median(gain):+.2f} ({min(gain):+.2f} to {max(gain):+.2f}) |")
    peak = int(np.argmax(med_gain))
    low = crossing(med_blur[: peak + 1], med_gain[: peak + 1], MIN_GAIN_DB, rising=True)
    high = crossing(med_blur[peak:], med_gain[peak:], MIN_GAIN_DB, rising=False)
    print(f"median gain crosses {MIN_GAIN_DB} dB at blur_px {low:.2f} (rising) and {high:.2f} (falling)"
          f"   [in midnet/quality/focus.py: SHARP_MAX_PX={focus.SHARP_MAX_PX}, RESTORE_MAX_PX={focus.RESTORE_MAX_PX}]")


# ------------------------------------------------------------------ real pairs


def real_records(data: Path) -> list[dict]:
    import midnet

    out = []
    for path in sorted((data / "blur").glob("*.png")):
        blurry = read_image(path).array
        restored = midnet.deblur(blurry, infobar="auto", **EXACT)
        frames = {"sharp": read_image(data / "sharp" / path.name).array, "blurry": blurry, "restored": restored}
        for kind, a in frames.items():
            rows = resolve_infobar("auto", a)
            rec = {"frame": path.stem, "kind": kind, **focus.score(a).as_dict()}
            rec.update(other_measures(to_gray_float(a[: a.shape[0] - rows]).astype(np.float64)))
            out.append(rec)
        print(f"real: {path.stem} done", file=sys.stderr)
    return out


def stage_real(data: Path, work: Path, images: Path) -> None:
    records = cached(work, "real", lambda: real_records(data))
    get = {(r["frame"], r["kind"]): r for r in records}
    frames = sorted({r["frame"] for r in records})
    print("\nthe seven real pairs (blur_px / confidence / verdict; blur_effect; variance of the Laplacian x1e4):")
    print("| micrograph | sharp | blurry | restored (midnet-sem) | blur_effect sharp / blurry / restored | "
          "var. Laplacian sharp / blurry / restored | held-out gain dB |\n| --- | --- | --- | --- | --- | --- | --- |")
    for f in frames:
        s, b, r = (get[(f, k)] for k in ("sharp", "blurry", "restored"))
        cell = lambda x: f"{x['blur_px']:.2f} / {x['confidence']:.2f} / {x['verdict']}"  # noqa: E731
        print(f"| {f} | {cell(s)} | {cell(b)} | {cell(r)} | {s['blur_effect']:.3f} / {b['blur_effect']:.3f} / "
              f"{r['blur_effect']:.3f} | {s['varlap'] * 1e4:.2f} / {b['varlap'] * 1e4:.2f} / {r['varlap'] * 1e4:.2f} | "
              f"{HELD_OUT_GAIN.get(f, float('nan')):+.2f} |")
    for name, key, sign in (("midnet blur_px", "blur_px", 1), ("blur_effect", "blur_effect", 1),
                            ("variance of the Laplacian", "varlap", -1)):
        right = sum(sign * get[(f, "sharp")][key] < sign * get[(f, "blurry")][key] for f in frames)
        gap = min(sign * (get[(f, "blurry")][key] - get[(f, "sharp")][key]) for f in frames)
        spread = np.std([get[(f, "sharp")][key] for f in frames])
        print(f"{name}: sharp scored sharper than blurry on {right}/{len(frames)}; smallest gap {gap:.3g} "
              f"({gap / spread if spread else float('nan'):.1f} x the spread of the sharp frames)")
    gains = [HELD_OUT_GAIN[f] for f in frames if f in HELD_OUT_GAIN]
    for key in ("blur_px", "blur_effect"):
        rho = spearmanr([get[(f, "blurry")][key] for f in frames if f in HELD_OUT_GAIN], gains)[0]
        print(f"Spearman (blurry frame's {key}, held-out gain), n={len(gains)}: {rho:+.2f}")
    figure_real(get, frames, images / "focus_real.png")


def figure_real(get, frames, path: Path) -> None:
    kinds = {"sharp": (46, 139, 87), "blurry": (200, 50, 50), "restored": (40, 110, 200)}
    measures = [("midnet blur_px (px)", "blur_px", False), ("skimage blur_effect", "blur_effect", False),
                ("variance of the Laplacian (log)", "varlap", True)]
    im = Image.new("RGB", (1140, 60 + 26 * len(frames) + 70), "white")
    draw = ImageDraw.Draw(im)
    for k, (title, key, log) in enumerate(measures):
        x0, x1 = 60 + k * 370, 60 + k * 370 + 320
        vals = [get[(f, kd)][key] for f in frames for kd in kinds]
        t = (lambda v: math.log10(v)) if log else (lambda v: v)
        lo, hi = t(min(vals)), t(max(vals))
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
        lo = lo if log else max(lo, 0.0)
        to_x = lambda v: x0 + (x1 - x0) * (t(v) - lo) / (hi - lo)  # noqa: E731
        draw.text((x0, 12), title, fill=0)
        for i, f in enumerate(frames):
            y = 50 + 26 * i
            draw.line([x0, y, x1, y], fill=(220, 220, 220))
            if k == 0:
                draw.text((8, y - 6), f, fill=0)
            for kd, c in kinds.items():
                x = to_x(get[(f, kd)][key])
                draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=c)
        yb = 50 + 26 * len(frames)
        draw.line([x0, yb, x1, yb], fill=0)
        draw.text((x0, yb + 4), f"{10 ** lo if log else lo:.3g}", fill=0)
        draw.text((x1 - 40, yb + 4), f"{10 ** hi if log else hi:.3g}", fill=0)
    for j, (kd, c) in enumerate(kinds.items()):
        draw.ellipse([60 + 130 * j, im.height - 26, 70 + 130 * j, im.height - 16], fill=c)
        draw.text((76 + 130 * j, im.height - 27), kd, fill=0)
    im.save(path)
    print(f"wrote {path}", file=sys.stderr)


def stage_archive(data: Path, work: Path, images: Path) -> None:
    files = sorted((data / "sharp").glob("*.png")) + sorted((data / "blur").glob("*.png"))
    records = [rec for p in files for rec in focus.score_file(p)]
    written = focus.write_report(records, work / "archive")
    shutil.copyfile(written[1], images / "focus_archive.png")
    short = [dict(r, file=str(Path(r["file"]).relative_to(data))) for r in records]
    print("\n" + focus.table(sorted(short, key=lambda r: -focus.blur_key(r))) + "\n" + focus.summary(records))
    print(f"wrote {images / 'focus_archive.png'}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=shared_pairs())
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "focus", help="cache of the measured results")
    ap.add_argument("--images", type=Path, default=REPO / "docs" / "images")
    ap.add_argument("--stages", default="synthetic,thresholds,real,archive")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    stages = args.stages.split(",")
    coef = None
    if "synthetic" in stages:
        coef = stage_synthetic(args.data, args.work, args.images)["coef"]
    if "thresholds" in stages:
        stage_thresholds(args.data, args.work, coef)
    if "real" in stages:
        stage_real(args.data, args.work, args.images)
    if "archive" in stages:
        stage_archive(args.data, args.work, args.images)


if __name__ == "__main__":
    main()
