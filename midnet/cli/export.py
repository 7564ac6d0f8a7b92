"""``midnet export``: a model as a BMZ package, an ONNX file or a TorchScript file (midnet/export/)."""

from __future__ import annotations

import click

WHAT = {  # what each format's export does, said before it starts
    "bmz": "a BioImage Model Zoo package: the network exported as ONNX and TorchScript, a sample restored, the "
           "package built by bioimageio.spec",
    "onnx": "the network traced into one ONNX graph with its intensity mapping",
    "torchscript": "the network compiled into a TorchScript module that pads any frame size itself",
}


@click.command("export", short_help="Export a model for Fiji/napari (bmz), ONNX or TorchScript.")
@click.argument("model")
@click.option("-o", "--output", required=True, type=click.Path(), help="File to write (a .zip for bmz).")
@click.option("--format", "fmt", type=click.Choice(["bmz", "onnx", "torchscript"]), default="bmz", show_default=True,
              help="bmz: BioImage Model Zoo zip (deepImageJ, napari, ilastik); onnx: one ONNX file; "
                   "torchscript: one TorchScript file. Each takes any size, raw grey levels in and out.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def export_cmd(model: str, output: str, fmt: str, overwrite: bool) -> None:
    """Export MODEL (a preset with weights such as midnet-sem, or a weights file) to OUTPUT.

    The exported files take a micrograph's own grey levels (any bit depth, cast to float32)
    and return the restoration on the same scale: the intensity map is inside them.
    docs/export.md shows how each format is run.
    """
    import time
    from pathlib import Path

    from ..errors import MidnetError
    from ..export import export_model
    from ..images.progress import working

    if Path(output).exists() and not overwrite:  # said at once, not after the announcement of a minute's work
        raise MidnetError(f"{output} exists; choose another name, or replace it with --overwrite")
    started = time.monotonic()
    with working(f"exporting {model} to {output} ({WHAT[fmt]}); this can take a minute or more on a CPU..."):
        written = export_model(model, output, format=fmt, overwrite=overwrite)
    click.echo(f"wrote {written} in {time.monotonic() - started:.0f} s")
