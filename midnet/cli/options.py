"""Shared pieces of the command-line options: each option several commands take is written once here.

`midnet deblur` and `midnet watch` restore with the same options (:data:`restore_options`,
:data:`engine_options`, :data:`triage_options`, :data:`naming_options`), so that a user who
knows one knows the other. Like midnet/choices.py, this module loads nothing heavy: a
command's --help must answer before torch would have loaded.
"""

from __future__ import annotations

import click

from ..choices import ENGINE_NAMES, METHODS, PRECISIONS, WORTH_RESTORING_PX
from ..errors import MidnetError
from ..inference.settings import MIN_TILE, RestoreSettings

DEFAULTS = RestoreSettings()  # the options' defaults: the library's, napari's, Dask's and the server's


def option_group(*options):
    """One decorator for several click options (they appear in --help in the order given)."""
    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def infobar_value(value: str) -> int | str:
    """--infobar: auto, none or a number of rows."""
    if value in ("auto", "none"):
        return value
    try:
        rows = int(value)
    except ValueError:
        raise click.BadParameter("give auto, none or a number of rows") from None
    if rows < 0:
        raise click.BadParameter("rows must be >= 0")
    return rows


class DeviceType(click.ParamType):
    """--device of every command: its spelling is a usage error (exit 2); a missing device is pick_device's."""

    name = "device"

    def get_metavar(self, param, ctx=None) -> str:  # ctx: click >= 8.2
        return "[auto|cpu|cuda|cuda:N|mps]"

    def convert(self, value, param, ctx):
        from ..inference.devices import check_device_name

        try:
            return check_device_name(value)
        except MidnetError as exc:
            self.fail(str(exc), param, ctx)


def check_model(ctx, param, value: str) -> str:
    """--model: a preset with shipped weights or an existing weights file; anything else is a usage error."""
    from pathlib import Path

    from ..models.zoo import PRESETS

    shipped = ", ".join(n for n, p in PRESETS.items() if p.weights) or "none"
    if Path(value).is_file():  # a file wins over a preset of the same name, as in midnet.load_model
        return value
    if value not in PRESETS:
        raise click.BadParameter(f"{value!r} is neither a preset nor an existing weights file; presets with weights: "
                                 f"{shipped} (all presets: {', '.join(PRESETS)}), or give a .safetensors/.pth file or a midnet BMZ .zip")
    if PRESETS[value].weights is None:
        raise click.BadParameter(f"{value} has no shipped weights; train it with `midnet train` or give a weights "
                                 f"file; presets with weights: {shipped}")
    return value


def infobar_option(rows: str = "to exclude"):
    """--infobar of every command that reads micrographs; ``rows`` says what the command does with those rows
    (restoring keeps them untouched, scoring leaves them out)."""
    return click.option("--infobar", default=DEFAULTS.infobar, show_default=True,
                        callback=lambda c, p, v: infobar_value(v), help=f"Info bar rows {rows}: auto, none or a number.")


pairs_option = click.option("--data", required=True, type=click.Path(file_okay=False),
                            help="Pair folder with blur/ and sharp/.")
device_option = click.option("--device", type=DeviceType(), default=DEFAULTS.device, show_default=True,
                             help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")


def precision_option(default: str, help_extra: str = ""):
    """--precision of deblur and eval: the number format the network runs in (midnet/inference/precision.py)."""
    return click.option("--precision", type=click.Choice(["auto", *(p for p in PRECISIONS if p != "auto")]), default=default,
                        show_default=True, help="auto: bf16 on a CPU with native bf16 (AVX512-BF16, AMX), else fp32; "
                        "bf16/fp16 keep the residual and statistics in fp32 (docs/performance.md)." + help_extra)


model_option = click.option("--model", "model_name", default=DEFAULTS.model, show_default=True, callback=check_model,
                            help="Preset with shipped weights (see `midnet models`), a weights file, or a BMZ package .zip "
                                 "made by `midnet export` (only its weights are read).")

# what restores a frame: the fields of midnet.inference.settings.RestoreSettings a command line sets
restore_options = option_group(
    model_option,
    click.option("--method", type=click.Choice(METHODS), default=DEFAULTS.method,
                 show_default=True, help="The network, or a classical deconvolution."),
    click.option("--calib", type=click.Path(dir_okay=False), help="Calibration JSON for the classical methods."),
    infobar_option("kept untouched"),
    click.option("--tile", type=click.IntRange(min=MIN_TILE), default=DEFAULTS.tile,
                 help="Tile size (default: automatic)."),
    click.option("--overlap", type=click.IntRange(min=0), default=DEFAULTS.overlap, show_default=True,
                 help="Tile overlap, pixels."),
    device_option,
)
recursive_option = click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders of folder inputs.")
# how outputs are named and what comes beside them
naming_options = option_group(
    click.option("--suffix", default="", help="Text added to output names before the extension."),
    click.option("--format", "fmt", type=click.Choice(["same", "tif", "tiff", "png"], case_sensitive=False),
                 default="same", show_default=True,
                 help="Output file format: same as the input, TIFF (tif: NAME.tif, tiff: NAME.tiff) or PNG."),
    click.option("--compare", is_flag=True, help="Also write a before/after picture with a zoomed detail."),
)
deblur_output_options = option_group(
    recursive_option,
    click.option("--overwrite", is_flag=True, help="Replace existing outputs (default: skip them)."),
    naming_options,
)
# which engine runs the network, in which number format, with which views: deblur, watch and serve
engine_choice_options = option_group(
    click.option("--engine", type=click.Choice(("auto", *ENGINE_NAMES)), default=DEFAULTS.engine, show_default=True,
                 help="auto: the fastest engine and precision installed here, measured once per machine and model "
                      "(says what it picked); onnx (ONNX Runtime) and openvino run one ONNX file exported once per "
                      "model and cached (`midnet cache`); extras onnx/openvino; see docs/performance.md."),
    precision_option(DEFAULTS.precision),
    click.option("--tta", is_flag=True, help="Average the eight flips and rotations (test-time augmentation; 8x the time)."),
)
engine_options = option_group(
    engine_choice_options,
    click.option("--uncertainty", is_flag=True,
                 help="Also write NAME_uncertainty.tif: the per-pixel spread of the eight views (implies --tta)."),
)
triage_options = option_group(
    click.option("--only-blurry", is_flag=True, help="Restore only what `midnet score` finds worth restoring; list the rest."),
    click.option("--blur-threshold", type=click.FloatRange(min=0), default=None, metavar="PX",
                 help="With --only-blurry: restore above this blur in px (default: what `midnet score` calls worth "
                      f"restoring, from {WORTH_RESTORING_PX:g} px)."),
)


def restore_settings(model_name, method, calib, infobar, tile, overlap, device, engine, precision, tta,
                     uncertainty=False, only_blurry=False, blur_threshold=None, **_):
    """The :class:`~midnet.inference.settings.RestoreSettings` the options above give (``**_``: a command's other options;
    the ones a command lacks keep their defaults)."""
    return RestoreSettings(model=model_name, method=method, calibration=calib, infobar=infobar, tile=tile,
                           overlap=overlap, device=device, engine=engine, precision=precision, tta=tta,
                           uncertainty=uncertainty, only_blurry=only_blurry, blur_threshold=blur_threshold)
