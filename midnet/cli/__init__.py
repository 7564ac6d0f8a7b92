"""The ``midnet`` command: a thin layer over the package's API.

Each command imports what it uses inside its own body: ``midnet --help``, ``--version`` and a
mistyped option must answer before torch, scikit-image or SciPy would have loaded (seconds
on a small CPU). Options are built from midnet/choices.py, which imports nothing.
"""

from __future__ import annotations

import json
import sys

import click

from ..choices import (
    CLASSICAL_METHODS, DEFAULT_MODEL, INPUT, METHODS, NETWORK, REGIONS, REGISTERED_PATCH, REGISTERED_PX,
)
from ..errors import MidnetError, one_line
from ..runtime_info import midnet_version
from .cluster import dask_options, deblur_on_dask, wants_dask
from .options import (
    check_model, deblur_output_options, device_option, engine_options, infobar_value, model_option, precision_option,
    restore_options, restore_settings, triage_options,
)


class MidnetGroup(click.Group):
    """Turns midnet's errors into one line on stderr (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MidnetError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug or an environment problem: still one line by default
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {type(exc).__name__}: {one_line(exc)} (rerun with --debug for details)", err=True)
            ctx.exit(1)


@click.group(cls=MidnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(midnet_version(), "--version", prog_name="midnet")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Restore out-of-focus scanning-electron micrographs (MIDNet, Wang et al. 2024)."""
    ctx.ensure_object(dict)["debug"] = debug


@cli.command("models", short_help="List the model presets with their parameter counts.")
@click.option("--in-chans", default=1, show_default=True, type=click.IntRange(1, 4), help="Image channels.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(in_chans: int, as_json: bool) -> None:
    """List the model presets with their parameter counts."""
    from ..zoo import PRESETS, count_parameters, create_model

    import torch

    rows = []
    for name, preset in PRESETS.items():
        with torch.device("meta"):  # shapes only: counts 88 M parameters without allocating them
            model = create_model(name, in_chans=in_chans)
        rows.append(
            {
                "name": name,
                "arch": model.config.arch,
                "params": count_parameters(model),
                "pretrained": preset.weights is not None,
                "description": preset.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<14} {'arch':<8} {'params':>12}  {'weights':<8} description")
    for r in rows:
        weights = "shipped" if r["pretrained"] else "-"
        click.echo(f"{r['name']:<14} {r['arch']:<8} {r['params']:>12,}  {weights:<8} {r['description']}")




@cli.command("train", short_help="Train or fine-tune a network on blur/sharp pairs.")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. optim.lr=5e-4.")
@click.option("--data", type=click.Path(file_okay=False), help="Pair folder (same as --set data.path=...).")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (same as --set out=...).")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in the run folder exactly.")
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
def train_cmd(config, overrides, data, out, resume, print_config) -> None:
    """Train or fine-tune a network on blur/sharp pairs (YAML CONFIG, e.g. configs/cpu.yaml)."""
    from pathlib import Path

    from ..training import ConfigUsageError, dump_config, load_config, train

    values = {}
    if data:
        values["data.path"] = data
    if out:
        values["out"] = out
    if config is None and resume and out and (Path(out) / "config.yaml").is_file():
        config = str(Path(out) / "config.yaml")  # resume the run as it was configured
    try:
        cfg = load_config(config, list(overrides), values)
    except ConfigUsageError as exc:  # a bad --set is the command line's fault: exit 2, as for any usage error
        raise click.UsageError(str(exc)) from None
    if print_config:
        click.echo(dump_config(cfg), nl=False)
        return
    summary = train(cfg, resume=resume, echo=lambda m: click.echo(m, err=True))
    best = summary["best_val_psnr"]
    click.echo(
        f"{'stopped' if summary['stopped'] else 'finished'} at step {summary['iteration']}; weights: {summary['weights']}"
        + (f"; best validation PSNR {best:.2f} dB" if best is not None else ""),
        err=True,
    )
    if summary["signal"]:  # checkpointed, but not finished: 143 for SIGTERM, 130 for SIGINT, as shells expect
        sys.exit(128 + summary["signal"])


@cli.command("calibrate", short_help="Fit the classical methods' PSF and parameters on pairs.")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="Pair folder with blur/ and sharp/.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Calibration JSON to write.")
@click.option("--names", default=None, help="Comma-separated micrographs to fit on (default: all).")
@click.option("--methods", default=",".join(CLASSICAL_METHODS), show_default=True, help="Methods to fit.")
@click.option("--infobar", default="auto", show_default=True, callback=lambda c, p, v: infobar_value(v),
              help="Info bar rows to exclude: auto, none or a number.")
@click.option("--overwrite", is_flag=True, help="Replace an existing calibration file.")
def calibrate_cmd(data, output, names, methods, infobar, overwrite) -> None:
    """Fit the classical methods' PSF and parameters on training pairs (max PSNR)."""
    from pathlib import Path

    from ..calibration import calibrate
    from ..data import load_pairs
    from ..publish import check_writable

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    bad = sorted(set(chosen) - set(CLASSICAL_METHODS))
    if bad:
        raise MidnetError(f"unknown method {', '.join(bad)}; use {', '.join(CLASSICAL_METHODS)}")
    if Path(output).exists() and not overwrite:  # before minutes of fitting, not after
        raise MidnetError(f"{output} exists; choose another -o or pass --overwrite")
    check_writable(output)
    pairs = load_pairs(data, infobar, names.split(",") if names else None, align="affine")
    click.echo(f"fitting {', '.join(chosen)} on {len(pairs)} micrographs...", err=True)
    params = calibrate(pairs, chosen)
    params.save(output, overwrite=overwrite)
    click.echo(params.model_dump_json(indent=2))


@cli.command("eval", short_help="PSNR/SSIM of a restorer on whole micrographs vs the input.")
@model_option
@click.option("--method", type=click.Choice(METHODS), default=NETWORK,
              show_default=True, help="A network (--model) or a classical method (--calib).")
@click.option("--calib", type=click.Path(dir_okay=False), help="Calibration JSON from 'midnet calibrate'.")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="Pair folder with blur/ and sharp/.")
@click.option("--infobar", default="auto", show_default=True, callback=lambda c, p, v: infobar_value(v),
              help="Info bar rows to exclude: auto, none or a number.")
@click.option("--names", default=None, help="Comma-separated micrograph names to score (default: all).")
@click.option("--align", type=click.Choice(["affine", "shift", "none"]), default="affine", show_default=True,
              help="Register each blurry frame onto its sharp one first, measured on that pair alone and the same "
                   "for every method: affine (a refocused SEM shifts and stretches the frame), shift (integer "
                   "shift, both cropped to the overlap) or none (score the frames as given).")
@click.option("--no-align", is_flag=True, help="Same as --align none.")
@click.option("--tile", type=click.IntRange(min=32), default=None, help="Restore in tiles of this size.")
@device_option
@click.option("--protocol", type=click.Choice(["micrograph", "paper"]), default="micrograph", show_default=True,
              help="'paper': score the paper's random test tiles (split by --seed; LEAKS, for comparison only).")
@click.option("--seed", default=0, show_default=True, help="Seed of the paper protocol's random split (the run's seed).")
@click.option("--tta", is_flag=True, help="Score the eight-view test-time augmentation (as deblur --tta).")
@click.option("--region", type=click.Choice(REGIONS), default="all", show_default=True,
              help=f"'registered': a diagnostic that scores only the {REGISTERED_PATCH} px squares where the "
                   f"registered pair lines up to {REGISTERED_PX} px (measured on the pair alone); 'all' is the "
                   "protocol.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout (nothing else goes there).")
@precision_option("fp32", " Scores are measured in fp32 unless asked.")
def eval_cmd(model_name, method, calib, data, infobar, names, align, no_align, tile, device, protocol, seed,
             tta, region, as_json, precision) -> None:
    """PSNR/SSIM of a restorer on whole micrographs, beside the blurry input's."""
    from tqdm import tqdm

    from ..evaluate import score_restorer
    from ..restore import make_restorer

    if protocol == "paper" and region != "all":
        raise MidnetError("--region registered measures whole micrographs; the paper protocol's resized tiles "
                          "have no such region: use --protocol micrograph")
    restorer = make_restorer(model_name, method, tile, device=device, calibration=calib, tta=tta, precision=precision)
    label = f"model {model_name}" if method == NETWORK else f"{method} ({calib or 'built-in parameters'})"
    label += " with 8-view TTA" if tta else ""
    align = "none" if no_align else align
    pairs = _pairs_to_score(protocol, data, infobar, seed, names, align)
    if method == NETWORK:
        _warn_if_trained_on(model_name, [p.name for p in pairs])
    bar = tqdm(total=len(pairs), unit="image", desc="eval", file=sys.stderr, disable=None)
    result = score_restorer(restorer, pairs, align=False, on_image=lambda _: bar.update(1), region=region)  # registered above
    bar.close()
    if as_json:  # strict JSON: an infinite PSNR (identical images) becomes null
        click.echo(json.dumps(_finite(result), allow_nan=False))
        return
    registered = "paper tiles, registered affine" if protocol == "paper" else f"registered: {align}"
    click.echo(f"{label} on {data} ({registered}, info bar excluded)")
    _print_scores(result, region)


def _pairs_to_score(protocol: str, data: str, infobar, seed: int, names: str | None, align: str) -> list:
    """The pairs `midnet eval` scores: whole registered micrographs, or the paper's (leaking) test tiles."""
    if protocol == "paper":
        from pathlib import Path

        from ..data.paper_protocol import LEAK_WARNING, paper_split

        click.echo(f"warning: {LEAK_WARNING}", err=True)
        return paper_split(Path(data), infobar, seed)[1]
    from ..data import load_pairs

    return load_pairs(data, infobar, names.split(",") if names else None, align=align, warn_shift=False)


def _print_scores(result: dict, region: str) -> None:
    if region == "registered":
        click.echo(f"diagnostic, not the protocol: scored only where the pair lines up to {REGISTERED_PX} px, "
                   f"{result['mean']['scored_fraction']:.0%} of the frames on average")
    click.echo(f"{'micrograph':<16} {'PSNR dB':>8} {'SSIM':>7} {'input dB':>9} {'input SSIM':>10} {'gain dB':>8}")
    for im in result["images"] + [dict(result["mean"], name="mean")]:
        click.echo(
            f"{im['name']:<16} {im['psnr']:>8.2f} {im['ssim']:>7.4f} {im['input_psnr']:>9.2f} "
            f"{im['input_ssim']:>10.4f} {im['psnr'] - im['input_psnr']:>+8.2f}"
        )


def _warn_if_trained_on(model_name: str, names: list[str]) -> None:
    """Scores on micrographs a model was trained on say nothing about unseen ones: say so."""
    from ..zoo import trained_on

    seen = sorted(set(trained_on(model_name)) & set(names))
    if seen:
        click.echo(f"warning: {model_name} was trained on {', '.join(seen)}; their scores are not held-out results",
                   err=True)


@cli.command("deblur", short_help="Restore micrograph files, folders or glob patterns.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@restore_options
@deblur_output_options
@engine_options
@click.option("--dry-run", is_flag=True, help="List what would be written, write nothing.")
@triage_options
@dask_options
def deblur_cmd(inputs, outdir, model_name, method, calib, infobar, tile, overlap, device, recursive, overwrite,
               suffix, fmt, compare, engine, precision, tta, uncertainty, dry_run, only_blurry, blur_threshold,
               cluster, scheduler, report_file, log_file, quiet) -> None:
    """Restore micrographs: files, folders or glob patterns (INPUTS) into OUTDIR.

    Zarr / OME-Zarr inputs (NAME.zarr) are read lazily and restored block by block into OUTDIR/NAME.ome.zarr;
    so is a tiled grey TIFF named here whose pixels exceed the limit of MIDNET_MAX_PIXELS (default 2**30),
    which would otherwise be refused. See docs/cluster.md.
    """
    from ..batch import dry_run_lines
    from ..pipeline import make_triage

    if wants_dask(inputs, cluster, scheduler, report_file, log_file):  # midnet/cli/cluster.py: files as Dask tasks, Zarr block by block
        restorer = dict(model=model_name, method=method, tile=tile, overlap=overlap, device=device, calibration=calib,
                        engine=engine if method == NETWORK else "torch", tta=tta, precision=precision)
        return deblur_on_dask(inputs, outdir, restorer, infobar, recursive=recursive, overwrite=overwrite,
                              suffix=suffix, fmt=fmt, compare=compare, uncertainty=uncertainty, dry_run=dry_run,
                              only_blurry=only_blurry, cluster=cluster, scheduler=scheduler,
                              report_file=report_file, log_file=log_file, quiet=quiet)
    jobs = _planned_jobs(inputs, outdir, recursive, suffix, fmt, compare, uncertainty)
    settings = restore_settings(model_name, method, calib, infobar, tile, overlap, device, engine, precision, tta,
                                uncertainty, only_blurry, blur_threshold)
    triage = make_triage(settings)  # midnet/focus.py: score every input, keep those worth restoring
    if triage is not None:
        jobs = triage.select(jobs)
    if dry_run:
        for line in dry_run_lines(jobs, overwrite) + [why for _, why in (triage.skipped if triage else [])]:
            click.echo(line)
        return
    pipeline, report, interrupted = _run_with_progress(settings, triage, jobs, overwrite)
    for line in pipeline.report_lines(report):
        click.echo(line, err=True)
    if interrupted is not None:
        click.echo(interrupted.summary(), err=True)
        sys.exit(interrupted.exit_code)
    if report.failed:
        sys.exit(1)


def _planned_jobs(inputs, outdir: str, recursive: bool, suffix: str, fmt, compare: bool, uncertainty: bool) -> list:
    """Every input found and the outputs it will have; nothing found or a bad plan is a usage error."""
    from pathlib import Path

    from ..batch import collect_inputs, plan_jobs

    try:
        files = collect_inputs(inputs, recursive)
        if not files:
            raise MidnetError(f"no images found in {', '.join(inputs)} (TIFF, PNG, JPEG or BMP)")
        return plan_jobs(files, Path(outdir), suffix, fmt, compare, uncertainty)
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None


def _run_with_progress(settings, triage, jobs: list, overwrite: bool):
    """(pipeline, report, the interruption or None): the batch under its files and tiles bars."""
    from ..batch import Interrupted
    from ..pipeline import FramePipeline
    from ..progress import BatchProgress

    interrupted = None
    with BatchProgress(len(jobs)) as progress:
        pipeline = FramePipeline.build(settings, progress.on_tile, triage)
        if getattr(pipeline.restorer, "choice", None) is not None:  # --engine auto says what it picked, above the bars
            progress.write(pipeline.restorer.choice.summary())
        progress.begin()  # the model is loaded: the bars' clocks start with the first file
        try:
            report = pipeline.run(jobs, overwrite, on_done=progress.file_done)
        except Interrupted as stop:  # Ctrl+C or SIGTERM: say what was done, then exit 130 or 143
            report, interrupted = stop.report, stop
            report.skipped += triage.skipped if triage is not None else []
    return pipeline, report, interrupted


@cli.command("finetune", short_help="Adapt a model to your own blur/sharp pairs in minutes.")
@click.argument("pairs", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Weights file to write (NAME.safetensors).")
@click.option("--base", default=DEFAULT_MODEL, show_default=True, callback=check_model,
              help="Model to start from: a preset with weights or a weights file.")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Training time, counted from the first training step (loading, registering and scoring the "
                   "pairs come before it); a budget too short to train and score is refused.")
@click.option("--crop", type=click.IntRange(32, 2048), default=192, show_default=True, help="Training crop side.")
@click.option("--seed", default=0, show_default=True, help="Seeds the training crops.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def finetune_cmd(pairs, output, base, minutes, crop, seed, overwrite) -> None:
    """Fine-tune a model on PAIRS (a folder with blur/ and sharp/): early-stopped on a held-out part.

    One micrograph is held out when there are several; with a single pair, a strip of it
    one crop side away from every training crop. The table at the end scores the held-out
    part: the blurry input, the base model and the fine-tuned one. When no held-out score
    beat the base model's, nothing was learned: it says so, writes nothing and exits 1.
    """
    from ..finetune import FinetuneConfig, NothingLearned, finetune

    config = FinetuneConfig(base=base, minutes=minutes, crop=crop, seed=seed)
    try:
        result = finetune(pairs, output, config, overwrite, echo=lambda m: click.echo(m, err=True))
    except NothingLearned as exc:  # the table still says how the base model did; the error line says why
        _finetune_table(exc.result, base)
        raise
    _finetune_table(result, base)
    click.echo(f"wrote {result.weights} (best held-out score at step {result.best_step} of {result.steps})")


def _finetune_table(result, base: str) -> None:
    click.echo(f"held out: {result.held_out}; base model: {base}")
    click.echo(f"{'':<24} {'PSNR dB':>8} {'SSIM':>7}")
    for label, (psnr_db, ssim_value) in result.rows.items():
        click.echo(f"{label:<24} {psnr_db:>8.2f} {ssim_value:>7.4f}")


@cli.command("demo", short_help="Restore the shipped sample micrograph: a before/after picture.")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Folder for the pictures (outside the checkout, e.g. ~/midnet-demo).")
@model_option
@device_option
def demo_cmd(outdir, model_name, device) -> None:
    """Restore the sample micrograph shipped with midnet and write a before/after picture.

    The sample is a crop of micrograph 3-1, one that midnet-sem was trained on: the picture shows
    what the tool does, not how well it restores micrographs it never saw (see docs/results.md).
    """
    from importlib import resources
    from pathlib import Path

    from ..figures import compare_figure
    from ..io import read_image, write_image
    from ..restore import deblur
    from ..devices import pick_device

    with resources.as_file(resources.files("midnet") / "samples" / "sem_blurry_sample.png") as sample:
        img = read_image(sample)
    out = Path(outdir)
    restored = deblur(img.array, model=model_name, device=pick_device(device))
    write_image(out / "sample_blurry.png", img.array, like=img)
    write_image(out / "sample_restored.png", restored, like=img)
    figure = compare_figure(img.array, restored, out / "sample_compare.png")
    click.echo(f"wrote {out / 'sample_blurry.png'}, {out / 'sample_restored.png'} and {figure}")
    click.echo("sample: crop of SEM micrograph 3-1 of Wang et al. 2024 (CC BY 4.0), see midnet/samples/README.md")
    click.echo("note: midnet-sem was TRAINED on this micrograph (as is any model trained on all the shared pairs), "
               "so this is not a held-out result; scores on micrographs a model never saw: docs/results.md")


@cli.command("compare", short_help="Every method on every micrograph: PSNR/SSIM table, pictures.")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="Pair folder with blur/ and sharp/.")
@click.option("--methods", default=",".join((INPUT, *CLASSICAL_METHODS, DEFAULT_MODEL)), show_default=True,
              help=f"Comma-separated: {', '.join((INPUT, *CLASSICAL_METHODS))}, preset names or weights files "
                   "(a path may hold {fold}: one model per fold); LABEL=METHOD names the column.")
@click.option("--folds", default=0, show_default=True, type=click.IntRange(0, 100),
              help="k-fold by micrograph: classical methods calibrated per fold; 0 uses built-in parameters.")
@click.option("--infobar", default="auto", show_default=True, callback=lambda c, p, v: infobar_value(v),
              help="Info bar rows to exclude: auto, none or a number.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
@click.option("--figure", type=click.Path(dir_okay=False), help="Also write a grid of the same detail from every method.")
def compare_cmd(data, methods, folds, infobar, markdown, figure) -> None:
    """One PSNR/SSIM table of every method on every micrograph, and a picture grid."""
    from tqdm import tqdm

    from ..compare import compare
    from ..figures import figure_grid

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    bar = tqdm(desc="compare", unit="restoration", file=sys.stderr, disable=None)
    result = compare(data, chosen, folds=folds, infobar=infobar, on_step=lambda _: bar.update(1))
    bar.close()
    click.echo(result.markdown() if markdown else result.table())
    if figure:
        click.echo(f"wrote {figure_grid(result, figure)}", err=True)


@cli.command("score", short_help="Focus score of micrographs: blur in px/nm, confidence, verdict.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders of folder inputs.")
@click.option("--infobar", default="auto", show_default=True, callback=lambda c, p, v: infobar_value(v),
              help="Info bar rows to exclude: auto, none or a number.")
@click.option("--pixel-size", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pixel size in nm when the files' metadata lacks it (gives blur_nm).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the scores as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list to stdout (nothing else goes there).")
@click.option("--sort", "sort_blur", is_flag=True, help="Blurriest first.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Write focus.csv and focus_report.png (histogram, thumbnails of the blurriest) here.")
def score_cmd(inputs, recursive, infobar, pixel_size, csv_path, as_json, sort_blur, report_dir) -> None:
    """Estimate how out of focus each micrograph is (no reference needed); see docs/results.md section 8."""
    from tqdm import tqdm

    from .. import focus
    from ..batch import collect_inputs

    try:
        files = collect_inputs(inputs, recursive)
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None
    if not files:
        raise click.UsageError(f"no images found in {', '.join(inputs)} (TIFF, PNG, JPEG or BMP)")
    records, failed = [], []
    for path, _ in tqdm(files, desc="score", unit="file", file=sys.stderr, disable=None):
        try:
            records += focus.score_file(path, infobar=infobar, pixel_size_nm=pixel_size)
        except MidnetError as exc:
            failed.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
    if sort_blur:
        records.sort(key=lambda r: -focus.blur_key(r))
    click.echo(json.dumps(_finite(records)) if as_json else focus.table(records))
    if csv_path:
        click.echo(f"wrote {focus.write_csv(records, csv_path)}", err=True)
    if report_dir and records:
        click.echo("wrote " + " and ".join(map(str, focus.write_report(records, report_dir, infobar))), err=True)
    click.echo(focus.summary(records) + (f", {len(failed)} failed" if failed else ""), err=True)
    for why in failed:
        click.echo(f"failed: {why}", err=True)
    if failed:
        sys.exit(1)


def _finite(obj):
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


from .cache import cache_cmd  # noqa: E402  (they register on the group defined above)
from .export import export_cmd  # noqa: E402
from .serve import serve_cmd  # noqa: E402
from .watch import watch_cmd  # noqa: E402

cli.add_command(cache_cmd)
cli.add_command(export_cmd)
cli.add_command(serve_cmd)
cli.add_command(watch_cmd)


def main() -> None:
    cli(prog_name="midnet", obj={})

