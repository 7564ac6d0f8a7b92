"""``midnet demo``: the shipped sample micrograph restored, with a before/after picture."""

from __future__ import annotations

import click

from .options import device_option, model_option


@click.command("demo", short_help="Restore the shipped sample micrograph: a before/after picture.")
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

    from ..quality.figures import compare_figure
    from ..images.io import read_image, write_image
    from ..inference.restore import deblur
    from ..inference.devices import pick_device

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
