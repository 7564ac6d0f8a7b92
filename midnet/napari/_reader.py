"""The npe2 reader for SEM TIFFs and the sample micrograph.

Pixels come from midnet.images.io.read_image (what ``midnet deblur`` reads), the pixel size from
midnet.images.metadata.pixel_size_nm (FEI/Thermo, Zeiss, TESCAN tags, JEOL/Hitachi/TESCAN
sidecars, ImageJ/resolution tags): the layer's scale is in nanometres, so napari's
scale bar and the line profile measure the specimen.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import MidnetError, one_line
from ..images.io import TIFF_SUFFIXES, ImageData, read_image
from ..images.metadata import pixel_size_nm

SAMPLE = "sem_blurry_sample.png"


def get_reader(path: str | list[str]) -> Callable[[str], list[tuple]] | None:
    """npe2 reader hook: ``read_sem_tiff`` for one file tifffile can open, None for anything else.

    Readability is decided here, not in the reader function: a file tifffile cannot parse
    (not a TIFF, a header cut short) gets None, so napari silently tries its other readers
    instead of showing an error.
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.suffix.lower() not in TIFF_SUFFIXES or not p.is_file():
        return None
    import tifffile

    try:  # parses the header and the first page's tags only; the pixels are read later
        with tifffile.TiffFile(p) as tif:
            tif.pages.first.shape  # noqa: B018 (touching it parses the first page)
    except Exception:  # tifffile raises TiffFileError, ValueError, struct.error... for a file it cannot parse
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
    """Read one TIFF with midnet's reader; never raises (napari would show a traceback dialog).

    A file whose pixels midnet cannot decode after all (data cut short, a missing codec)
    is one notification line in midnet's words, and npe2's "no layers" value ``[(None,)]``,
    which napari accepts without an error of its own.
    """
    if isinstance(path, (list, tuple)):
        path = path[0]
    try:
        image = read_image(path)
    except MidnetError as exc:
        return _nothing_read(str(exc))
    except Exception as exc:  # a decoder's own exception: still one line, not a traceback dialog
        return _nothing_read(f"{path}: cannot read this TIFF ({type(exc).__name__}: {one_line(exc, 200)})")
    return [layer_data(image, Path(path).stem)]


def _nothing_read(message: str) -> list[tuple]:
    from napari.utils.notifications import show_error

    show_error(message)
    return [(None,)]  # npe2's null layer sentinel: the reader handled the file and adds no layer


def sample_micrograph() -> list[tuple]:
    """The shipped blurry sample (midnet/samples/README.md): 640x448, the bottom 64 rows an info bar."""
    with resources.as_file(resources.files("midnet") / "samples" / SAMPLE) as p:
        image = read_image(p)
        array, kwargs, kind = layer_data(image, "SEM sample (blurry)")
    return [(np.asarray(array), kwargs, kind)]
