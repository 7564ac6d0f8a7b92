"""``midnet export``: a model as a BMZ package, an ONNX file or a TorchScript file (midnet/export/)."""

from __future__ import annotations

import click


@click.command("export", short_help="Export a model for Fiji/napari (bmz), ONNX or TorchScript.")
@click.argument("model")
@click.option("-o", "--output", required=True, type=click.Path(), help="File to write (a .zip for bmz).")
@click.option("--format", "fmt", type=click.Choice(["bmz", "onnx", "torchscript"]), default="bmz", show_default=True,
              help="bmz: BioImage Model Zoo zip (deepImageJ, napari, ilastik); onnx: one ONNX file for every "
                   "size that is a multiple of the network's stride; torchscript: any size.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def export_cmd(model: str, output: str, fmt: str, overwrite: bool) -> None:
    """Export MODEL (a preset with weights such as midnet-sem, or a weights file) to OUTPUT.

    The exported network works on normalised frames; docs/export.md gives the pre- and
    post-processing and how each format is run.
    """
    from ..export import export

    click.echo(f"wrote {export(model, output, format=fmt, overwrite=overwrite)}")
