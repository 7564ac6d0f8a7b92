"""The npe2 reader for SEM TIFFs and the sample micrograph.

Pixels come from midnet.io.read_image (what ``midnet deblur`` reads), the pixel size from
midnet.metadata.pixel_size_nm (FEI/Thermo, Zeiss, TESCAN tags, JEOL/Hitachi/TESCAN
sidecars, ImageJ/resolution tags): the layer's scale is in nanometres, so napari's
scale bar and the line profile measure the specimen.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import MidnetError
from ..io import TIFF_SUFFIXES, ImageData, read_image
from ..metadata import pixel_size_nm

SAMPLE = "sem_blurry_sample.png"


def get_reader(path: str | list[str]) -> Callable[[str], list[tuple]] | None:
    """npe2 reader hook: ``read_sem_tiff`` for one TIFF file, None for anything else (other readers try)."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.suffix.lower() not in TIFF_SUFFIXES or not p.is_file():
        return None
    with open(p, "rb") as f:  # the TIFF signature: II*\0, MM\0*, or BigTIFF's II+\0 / MM\0+
        head = f.read(4)
    if head[:2] not in (b"II", b"MM"):
        return None
    return read_sem_tiff


def layer_data(image: ImageData, name: str) -> tuple:
    """(data, kwargs, "image") for napari: RGB(A) kept as colour, a stack as a slider axis, scale in nm."""
    array = image.array
    stack_shape, _ = image.frames()
    rgb = array.ndim - len(stack_shape) == 3
    if rgb and array.shape[-1] == 2:  # gray + alpha: napari has no such mode; show the gray
        array, rgb = array[..., 0], False
    nm = pixel_size_nm(image)
    plane = (nm, nm) if nm else (1.0, 1.0)
    units = ("nm", "nm") if nm else ("pixel", "pixel")
    lead = array.ndim - 2 - (1 if rgb else 0)
    kwargs = {
        "name": name,
        "rgb": rgb,
        "scale": (1.0,) * lead + plane,
        "units": ("pixel",) * lead + units,
        "metadata": {"source": str(image.path), "pixel_size_nm": nm, "format": image.format},
    }
    return array, kwargs, "image"


def read_sem_tiff(path: str | list[str]) -> list[tuple]:
    """Read one TIFF with midnet's reader; a file it cannot decode is a one-line notification, then napari's turn."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    try:
        image = read_image(path)
    except MidnetError as exc:
        from napari.utils.notifications import show_error

        show_error(str(exc))  # what is wrong with the file, in midnet's words
        raise  # napari then offers its other TIFF readers
    return [layer_data(image, Path(path).stem)]


def sample_micrograph() -> list[tuple]:
    """The shipped blurry sample (midnet/samples/README.md): 640x448, the bottom 64 rows an info bar."""
    with resources.as_file(resources.files("midnet") / "samples" / SAMPLE) as p:
        image = read_image(p)
        array, kwargs, kind = layer_data(image, "SEM sample (blurry)")
    return [(np.asarray(array), kwargs, kind)]
