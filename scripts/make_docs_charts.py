"""Draw the documentation's charts from the figures already written in docs/.

    python scripts/make_docs_charts.py      # writes docs/images/speed.png, learning_curve.png and long_run.png

The numbers are read from the pages themselves (docs/performance.md, docs/results.md,
docs/training.md: the benchmark outputs and tables quoted there), so a chart can never
disagree with its page: rerun this script after a page's figures change. Nothing is
measured here.

- speed.png: the per-frame cost of every preset (bench_presets) and of each inference
  engine (bench_inference), each as a ratio to a reference timed in the same process,
  because absolute seconds on the shared 2-core machine are not comparable across runs.
- learning_curve.png: left, the held-out PSNR of the shipped recipe's three fold runs
  every 500 steps (the table of docs/training.md, from each run's metrics.csv); right,
  MIDNet-s trained separately for 1,500 and for 3,000 steps (results sections 2 and 1,
  the same folds, seed and registration).
- long_run.png: fold 0's held-out PSNR in one 12,000-step schedule (results section 10.1)
  against the shipped 3,000-step schedule (docs/training.md's table).

Needs matplotlib (in the docs extra: pip install -e ".[docs]").
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a cluster node
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# bench_presets: "midnet-sem      1,546,149 params  plain    3.38 s, midnet deblur    1.38 s / 1280x960"
PRESET_LINE = re.compile(r"^(\S+)\s+[\d,]+ params\s+plain\s+([\d.]+) s, midnet deblur\s+([\d.]+) s / 1280x960$")
# bench_inference: "plain eager forward (NCHW, no_grad):   3.821 s" and the alternatives' lines
ENGINE_LINES = {
    "plain PyTorch forward": re.compile(r"^plain eager forward.*?:\s+([\d.]+) s$"),
    "midnet deblur (--engine torch)": re.compile(r"^midnet\.deblur restorer:\s+([\d.]+) s$"),
    "torch.compile (not offered)": re.compile(r"^torch\.compile \(fast copy\)\s+([\d.]+) s;"),
    "ONNX Runtime (--engine onnx)": re.compile(r"^ONNX Runtime \(fast copy\)\s+([\d.]+) s;"),
}
REFERENCE = "nafnet-s"  # every bench_presets process timed it: the same-process reference


def code_blocks(markdown: str) -> list[list[str]]:
    """The lines of every fenced code block, in order."""
    return [block.strip("\n").splitlines() for block in re.findall(r"```[^\n]*\n(.*?)```", markdown, re.S)]


def preset_ratios(markdown: str) -> dict[str, tuple[float, float]]:
    """Each preset's plain and `midnet deblur` time over the reference's plain time, in its own process.

    Each code block of bench_presets output is one process; a preset timed in two processes
    keeps its first ratio (the reference itself is 1.0 in both).
    """
    ratios: dict[str, tuple[float, float]] = {}
    for block in code_blocks(markdown):
        rows = {m[1]: (float(m[2]), float(m[3])) for m in map(PRESET_LINE.match, block) if m}
        if REFERENCE not in rows:
            continue
        ref = rows[REFERENCE][0]
        for name, (plain, fused) in rows.items():
            ratios.setdefault(name, (plain / ref, fused / ref))
    if REFERENCE not in ratios:
        raise SystemExit(f"no bench_presets output with {REFERENCE} found in docs/performance.md")
    return ratios


ENGINE_REQUIRED = ("plain PyTorch forward", "midnet deblur (--engine torch)")  # the others are drawn when quoted


def engine_speedups(markdown: str) -> dict[str, float]:
    """Each engine's speed-up over the plain forward, from the first bench_inference run quoted."""
    for block in code_blocks(markdown):
        times = {}
        for label, pattern in ENGINE_LINES.items():
            hits = [m for m in map(pattern.match, block) if m]
            if hits:
                times[label] = float(hits[0][1])
        if all(label in times for label in ENGINE_REQUIRED):
            plain = times["plain PyTorch forward"]
            return {label: plain / t for label, t in times.items()}
    raise SystemExit("no bench_inference output (plain forward and restorer) found in docs/performance.md")


def speed_chart(performance_md: str, out: Path) -> Path:
    presets = preset_ratios(performance_md)
    engines = engine_speedups(performance_md)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    names = sorted(presets, key=lambda n: presets[n][1])
    y = range(len(names))
    left.barh([i + 0.2 for i in y], [presets[n][0] for n in names], 0.4, label="plain PyTorch forward", color="#b0b7c3")
    left.barh([i - 0.2 for i in y], [presets[n][1] for n in names], 0.4, label="midnet deblur", color="#2b6cb0")
    left.set_yticks(list(y), names)
    left.set_xscale("log")
    left.axvline(1.0, color="k", lw=0.6, ls=":")
    left.set_xlabel(f"time per 1280x960 frame, relative to {REFERENCE}'s plain forward (log)")
    left.set_title("Every preset (bench_presets)")
    left.legend(loc="lower right", fontsize=8)
    labels = list(engines)
    colours = {"plain PyTorch forward": "#b0b7c3", "midnet deblur (--engine torch)": "#2b6cb0"}
    right.barh(range(len(labels)), [engines[k] for k in labels], color=[colours.get(k, "#38a169") for k in labels])
    right.set_yticks(range(len(labels)), labels)
    right.invert_yaxis()
    for i, k in enumerate(labels):
        right.text(engines[k], i, f" {engines[k]:.2f}x", va="center", fontsize=9)
    right.set_xlim(0, max(engines.values()) * 1.25)
    right.set_xlabel("speed-up over the plain forward")
    right.set_title("midnet-sem engines (bench_inference)")
    fig.suptitle("CPU, 2 threads (docs/performance.md); the ONNX and compile figures exclude start-up", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def section(markdown: str, number: int) -> str:
    """The text of '## N. ...' up to the next '## ' heading."""
    match = re.search(rf"^## {number}\. .*?(?=^## )", markdown, re.S | re.M)
    if not match:
        raise SystemExit(f"docs/results.md has no section {number}")
    return match.group(0)


def table_rows(text: str) -> dict[str, list[float]]:
    """PSNR of each micrograph row ('| 1-1 (0) | 21.85 / 0.5080 | ...'): the first number of each cell."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and re.fullmatch(r"\d+-\d+ \(\d\)", cells[0]):
            rows[cells[0].split()[0]] = [float(c.split("/")[0]) for c in cells[1:]]
    return rows


CURVE_ROW = re.compile(r"^\| ([\d,]+) \|((?: [\d.]+ / [\d.]+ \|)+)$")


def curve_rows(training_md: str) -> dict[int, list[float]]:
    """Step -> held-out PSNR of each fold and of the 7-micrograph mean, from docs/training.md's table."""
    match = re.search(r"^### The learning curve$(.*?)(?=^#)", training_md, re.S | re.M)
    if not match:
        raise SystemExit("docs/training.md has no '### The learning curve' section")
    rows = {}
    for line in match.group(1).splitlines():
        m = CURVE_ROW.match(line.strip())
        if m:
            rows[int(m[1].replace(",", ""))] = [float(c.split("/")[0]) for c in m[2].strip(" |").split("|")]
    if not rows:
        raise SystemExit("docs/training.md's learning-curve table has no rows")
    return rows


def _budget_panel(ax, results_md: str) -> None:
    steps3000 = {k: v[-1] for k, v in table_rows(section(results_md, 1)).items()}  # input, Wiener, MIDNet-s
    sec2 = table_rows(section(results_md, 2))  # input, Wiener, NAFNet-s, MIDNet-s
    steps1500 = {k: v[-1] for k, v in sec2.items()}
    names = sorted(set(steps3000) & set(steps1500))
    if not names:
        raise SystemExit("docs/results.md sections 1 and 2 share no micrograph rows")
    for n in names:
        ax.plot([1500, 3000], [steps1500[n], steps3000[n]], color="#90a4c0", lw=1, marker="o", ms=3)
        ax.annotate(n, (3000, steps3000[n]), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
    mean = [sum(d[n] for n in names) / len(names) for d in (steps1500, steps3000)]
    ax.plot([1500, 3000], mean, color="#2b6cb0", lw=2.5, marker="o", label=f"mean ({mean[0]:.2f} -> {mean[1]:.2f} dB)")
    _baselines(ax, sec2, names)
    ax.set_xticks([1500, 3000])
    ax.set_xlim(1200, 3400)
    ax.set_xlabel("training steps of a separate run")
    ax.set_title("Two budgets, trained separately (Results 1, 2)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")


def _baselines(ax, rows: dict[str, list[float]], names: list[str]) -> None:
    wiener = sum(rows[n][1] for n in names) / len(names)
    blurry = sum(rows[n][0] for n in names) / len(names)
    ax.axhline(wiener, color="#38a169", ls="--", lw=1, label=f"Wiener, calibrated per fold ({wiener:.2f} dB)")
    ax.axhline(blurry, color="#a0aec0", ls=":", lw=1, label=f"blurry input ({blurry:.2f} dB)")


def learning_curve_chart(training_md: str, results_md: str, out: Path) -> Path:
    rows = curve_rows(training_md)
    steps = sorted(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    folds = len(rows[steps[0]]) - 1
    for k in range(folds):
        left.plot(steps, [rows[s][k] for s in steps], color="#90a4c0", lw=1, marker="o", ms=3)
        left.annotate(f"fold {k}", (steps[-1], rows[steps[-1]][k]), xytext=(4, 0), textcoords="offset points",
                      va="center", fontsize=7)
    left.plot(steps, [rows[s][-1] for s in steps], color="#2b6cb0", lw=2.5, marker="o", label="mean of the 7 micrographs")
    sec2 = table_rows(section(results_md, 2))
    _baselines(left, sec2, sorted(sec2))
    left.set_xticks(steps)
    left.set_xlabel("training step (one 3,000-step cosine schedule per fold)")
    left.set_ylabel("held-out PSNR, dB (3-fold by micrograph)")
    left.set_title("The shipped recipe's fold runs, scored every 500 steps", fontsize=10)
    left.legend(fontsize=8, loc="lower right")
    _budget_panel(right, results_md)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


LONG_RUN_ROW = re.compile(r"^\| ([\d,]+) \| ([\d.]+) / ([\d.]+) \(([\d.]+)\) \|")


def long_run_rows(results_md: str) -> dict[int, float]:
    """Step -> fold 0's held-out PSNR in the 12,000-step run, from Results section 10.1's table."""
    match = re.search(r"^### 10\.1 .*?(?=^##|\Z)", results_md, re.S | re.M)
    rows = {int(m[1].replace(",", "")): float(m[2]) for line in (match.group(0) if match else "").splitlines()
            if (m := LONG_RUN_ROW.match(line.strip()))}
    if not rows:
        raise SystemExit("docs/results.md has no section 10.1 table of the long run")
    return rows


def long_run_chart(training_md: str, results_md: str, out: Path) -> Path:
    """Fold 0 in one 12,000-step schedule against the shipped 3,000-step schedule, held-out PSNR."""
    long_run, short = long_run_rows(results_md), curve_rows(training_md)
    held_out = {k: v for k, v in table_rows(section(results_md, 9)).items() if k in ("1-1", "2-1", "3-1")}
    blurry = sum(v[0] for v in held_out.values()) / len(held_out)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(sorted(short), [short[s][0] for s in sorted(short)], color="#90a4c0", lw=2, marker="o", ms=4,
            label="shipped recipe: one 3,000-step schedule")
    ax.plot(sorted(long_run), [long_run[s] for s in sorted(long_run)], color="#2b6cb0", lw=2.5, marker="o", ms=4,
            label="the same recipe in one 12,000-step schedule")
    ax.axhline(blurry, color="#a0aec0", ls=":", lw=1, label=f"blurry input ({blurry:.2f} dB)")
    ax.set_xlabel("training step (points inside a schedule are intermediate checkpoints)")
    ax.set_ylabel("held-out PSNR, dB (fold 0: 1-1, 2-1, 3-1)")
    ax.set_title("Fold 0: 4x the training budget (Results 10.1)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="the docs folder (read and written)")
    args = parser.parse_args()
    images = args.docs / "images"
    images.mkdir(exist_ok=True)
    print("wrote", speed_chart((args.docs / "performance.md").read_text(encoding="utf-8"), images / "speed.png"))
    training_md, results_md = ((args.docs / name).read_text(encoding="utf-8") for name in ("training.md", "results.md"))
    print("wrote", learning_curve_chart(training_md, results_md, images / "learning_curve.png"))
    print("wrote", long_run_chart(training_md, results_md, images / "long_run.png"))


if __name__ == "__main__":
    main()
