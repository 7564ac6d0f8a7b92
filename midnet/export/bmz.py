"""BioImage Model Zoo packages: a midnet network as a zip that Fiji, napari and ilastik run.

The package follows the current bioimageio model spec (0.5), built with bioimageio.spec's
own description classes and written by its ``save_bioimageio_package``:

- weights as ONNX and TorchScript, both made by midnet's exporters (midnet/export/onnx.py,
  torchscript.py): raw-in raw-out graphs that measure the frame's percentiles, map,
  pad, restore, crop and map back themselves (midnet/export/intensity_graph.py). Input
  and output are therefore declared in the file's own grey levels, with no pre- or
  postprocessing but a cast to float32: every consumer gets `midnet deblur`'s numbers
  without a formula from the card;
- midnet's own ``.safetensors`` file as an attachment, named with its SHA-256 under
  ``config.midnet``: the one thing ``midnet deblur --model package.zip`` reads
  (midnet/models/weights.py), so midnet never runs a package's TorchScript or any code;
- no ``pytorch_state_dict`` entry: the spec needs the architecture as Python code, either
  a source file inside the package (code shipped in a data file, which midnet neither
  writes nor runs) or an import from an installed library (``midnet.models``, which no
  consumer's environment has and no conda channel provides). ONNX and TorchScript reach
  every consumer (deepImageJ, the napari plugin, ilastik, bioimageio.core) without it;
- no halo, and whole frames recommended, both measured with bioimageio.core on a real
  micrograph (docs/fiji.md, "Tiles and halo"): a tile measures its own percentiles and
  pools every channel over itself alone, so independent tiles drift from the
  whole-frame result, and a declared halo makes bioimageio.core pad every frame by it
  (mirrored), which moves the frame's border and its pooled means;
- test tensors and a before/after cover cut from midnet's shipped sample micrograph (a
  crop of a real SEM frame, info bar excluded), the model card as documentation, the
  paper, NAFNet and the dataset as citations.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..images import intensity
from ..errors import MidnetError
from ..images.publish import atomic_write
from ..models.weights import CONFIG_KEY, PACKAGE_FORMAT, model_from_file, read_metadata, save_model

INSTALL_HINT = 'BMZ export needs bioimageio.spec and bioimageio.core: pip install "midnet[export]"'
FORMATS = ("onnx", "torchscript")
TEST_SIDE = 256  # test tensors: 256x256, a multiple of every preset's stride, small enough for the zoo's CI
RECOMMENDED_TILE = 0  # 0: whole frames only; no tile size matched the whole frame within 1 grey level (docs/fiji.md)
RECOMMENDED_HALO = 0  # measured there: any halo (hence padding) drifts further from midnet than none
INFOBAR_NOTE = ("Crop the microscope's info bar (the black text band at the bottom of an SEM frame, "
                "64 rows on the training microscope) before running this model: it is not image content, "
                "and its black and white pixels shift the percentiles of the intensity normalisation.")


def export_bmz(model: str | os.PathLike | nn.Module, path: str | os.PathLike, *,
               sample: str | os.PathLike | np.ndarray | None = None, formats=FORMATS,
               tile: int = RECOMMENDED_TILE, halo: int = RECOMMENDED_HALO,
               authors: list[dict[str, str]] | None = None) -> Path:
    """Write ``model`` (preset name, weights file or midnet network) as a BMZ package zip at ``path``.

    ``sample`` is the micrograph the test tensors and cover are cut from (default: the
    shipped sample, a crop of a real SEM frame); its info bar is excluded automatically.
    ``tile`` is the smallest tile the package recommends where a whole frame does not fit (0: whole frames);
    ``halo`` the output halo it declares (0: none, which measured closest to midnet's output).
    """
    path = Path(path)
    if path.suffix != ".zip":
        raise MidnetError(f"{path}: a BMZ package is a .zip file; name it NAME.zip")
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise MidnetError(f"unknown BMZ weight formats {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    _require_bioimageio()
    from bioimageio.spec import save_bioimageio_package

    with tempfile.TemporaryDirectory(prefix="midnet-bmz-") as tmp:
        work = Path(tmp)
        source = _weights_source(model, work)
        net = model_from_file(source.file).eval()
        parts = _package_parts(net, source, work, sample, formats, tile, halo)
        descr = _describe(net, source, parts, tile, halo, authors)
        built = save_bioimageio_package(descr, output_path=work / "package.zip")
        with atomic_write(path) as out:
            shutil.copyfile(built, out)
    return path


def _require_bioimageio() -> None:
    try:
        import bioimageio.spec  # noqa: F401
    except ImportError:
        raise MidnetError(INSTALL_HINT) from None


@dataclass(frozen=True)
class _Source:
    """The ``.safetensors`` file a package carries, with the name and card it goes by."""

    file: Path
    label: str
    card: str | None


def _weights_source(model, work: Path) -> _Source:
    from ..models.zoo import PRESETS, shipped_weights_path

    if isinstance(model, nn.Module):
        file = save_model(model, work / "weights" / f"{type(model).__name__.lower()}.safetensors")
        return _Source(file, type(model).__name__, None)
    key = str(model)
    if key in PRESETS and not Path(key).is_file():
        with shipped_weights_path(key) as shipped:
            file = work / "weights" / Path(shipped).name
            file.parent.mkdir(parents=True)
            shutil.copyfile(shipped, file)
            card_file = Path(shipped).with_suffix(".md")  # the model card beside the weights
            card = card_file.read_text(encoding="utf-8") if card_file.is_file() else None
        return _Source(file, key, card)
    file = Path(key)
    if file.suffix != ".safetensors" or CONFIG_KEY not in read_metadata(file):
        raise MidnetError(f"{file}: BMZ export needs a midnet .safetensors weights file (with its config) "
                          "or a preset with shipped weights")
    return _Source(file, file.stem, None)


def _package_parts(net: nn.Module, source: _Source, work: Path, sample, formats, tile: int, halo: int
                   ) -> dict[str, Any]:
    """Every file of the package, written under ``work``: weights, tensors, cover, documentation."""
    from . import onnx, torchscript

    parts: dict[str, Any] = {"weights": {}}
    if "onnx" in formats:  # wraps the cache's graph: the one --engine onnx runs, exported once per weights
        parts["weights"]["onnx"] = onnx.export_onnx_file(net, work / "weights.onnx")
    if "torchscript" in formats:
        parts["weights"]["torchscript"] = torchscript.export_torchscript(net, work / "weights.torchscript.pt")
    crop = _sample_crop(sample)
    restored = _predict(net, crop)
    parts["test_input"] = _save_npy(work / "test_input.npy", crop[None, None])
    parts["test_output"] = _save_npy(work / "test_output.npy", restored[None, None])
    parts["sample_input"] = _save_tiff(work / "sample_input.tif", crop)  # the zoo shows these (no .npy)
    parts["sample_output"] = _save_tiff(work / "sample_output.tif", restored)
    parts["cover"] = _cover(crop, restored, work / "cover.png")
    parts["documentation"] = _documentation(source, net, tile, halo, work / "README.md")
    return parts


def _sample_crop(sample) -> np.ndarray:
    """A TEST_SIDE square of real micrograph content (float32 grey levels), info bar excluded."""
    from ..images.infobar import resolve_infobar
    from ..images.io import dtype_range, read_image, to_gray_float

    if sample is None:
        from importlib import resources

        with resources.as_file(resources.files("midnet") / "samples" / "sem_blurry_sample.png") as p:
            array = read_image(p).array
    elif isinstance(sample, np.ndarray):
        array = sample
    else:
        array = read_image(sample).array
    rows = resolve_infobar("auto", array)
    body = array[: array.shape[0] - rows]
    if min(body.shape[:2]) < TEST_SIDE:
        raise MidnetError(f"the sample micrograph has {body.shape[1]}x{body.shape[0]} pixels without its info "
                          f"bar; the test tensors need at least {TEST_SIDE}x{TEST_SIDE}")
    top, left = (body.shape[0] - TEST_SIDE) // 2, (body.shape[1] - TEST_SIDE) // 2
    gray = to_gray_float(body[top: top + TEST_SIDE, left: left + TEST_SIDE])
    return gray * np.float32(dtype_range(body.dtype))  # the file's own grey levels, as a consumer reads them


def _predict(net: nn.Module, image: np.ndarray) -> np.ndarray:
    """What the package computes: midnet's restoration of the grey levels, float, on their own scale."""
    from ..inference.restore import make_restorer
    from ..inference.settings import RestoreSettings

    return make_restorer(RestoreSettings.exact(model=net))(image)


def _save_npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))
    return path


def _save_tiff(path: Path, array: np.ndarray) -> Path:
    import tifffile

    tifffile.imwrite(path, np.ascontiguousarray(array, dtype=np.float32))
    return path


def _cover(before: np.ndarray, after: np.ndarray, path: Path) -> Path:
    """Before | after, side by side (2:1, as the zoo shows covers), both shown with the input's contrast stretch."""
    from PIL import Image

    shown = intensity.measure(before).forward(np.concatenate([before, after], axis=1))  # any bit depth as 8 bits
    Image.fromarray(np.clip(np.round(shown * 255), 0, 255).astype(np.uint8)).save(path)
    return path


def _documentation(source: _Source, net: nn.Module, tile: int, halo: int, path: Path) -> Path:
    stride = net.padder_size
    usage = f"""# {source.label}: MIDNet deblurring for scanning-electron micrographs

This package was exported by midnet (`midnet export --format bmz`). It restores
out-of-focus SEM micrographs (one grey channel).

## Using this package

- **Info bar**: {INFOBAR_NOTE}
- **Input**: one grey channel in the file's own grey levels (8, 12 or 16 bits, or float
  in any range), cast to float32; any height and width from 16 on (the weights pad to a
  multiple of {stride} themselves).
- **Output**: the restored micrograph on the same scale, float32. Round and clip it to
  the file's type to save it, as `midnet deblur` does. Nothing else to apply: the weights
  map the input's 1st percentile to 0 and its 99.8th to 1 before the network and map the
  result back, as midnet does.
- **Tiles**: {_tile_note(tile)} {_halo_note(halo)}
  The drift was measured with bioimageio.core (midnet's docs/fiji.md).
- **midnet**: `midnet deblur --model this.zip` runs the attached `.safetensors` weights
  in midnet's own code (and crops the info bar by itself).

## Validation

- bioimageio.core's `bioimageio test` reproduces the test output from the test input
  (a {TEST_SIDE}x{TEST_SIDE} crop of a real micrograph, grey levels as stored) with every
  weight format in the package.
- On whole real micrographs (8-bit, and 16-bit), each format run by bioimageio.core gives
  `midnet deblur`'s image within one grey level once rounded and clipped.
- Restoration quality (held-out micrographs) is in the model card below.

"""
    path.write_text(usage + (source.card or _generic_card(net)), encoding="utf-8")
    return path


def _tile_note(tile: int) -> str:
    if tile == 0:
        return ("Run whole frames (no blocking). A tile measures its own percentiles and the network averages "
                "every channel over the whole image, so no tile size smaller than the frame matched the "
                "whole-frame result within one grey level.")
    return (f"Run whole frames where memory allows; otherwise tiles of at least {tile}x{tile}, "
            "as large as memory allows.")


def _halo_note(halo: int) -> str:
    if halo == 0:
        return ("The package declares no halo: a halo makes consumers pad the frame (mirrored), "
                "which changes the whole-frame result more than tiles without one do.")
    return f"The package declares a halo of {halo} pixels (cropped from each side of a tile)."


def _generic_card(net: nn.Module) -> str:
    config = getattr(net, "config", None)
    return ("# Model\n\nA network trained with midnet; its configuration: "
            f"`{config.model_dump_json() if config is not None else type(net).__name__}`.\n")


def _describe(net: nn.Module, source: _Source, parts: dict[str, Any], tile: int, halo: int,
              authors: list[dict[str, str]] | None):
    """The bioimageio.spec ModelDescr of the package (validated on construction)."""
    from bioimageio.spec.model import v0_5 as bmz

    from . import bmz_descr

    return bmz.ModelDescr(
        name=f"MIDNet SEM deblurring ({source.label})"[:128],
        description=("Deblurs out-of-focus scanning-electron micrographs with MIDNet (a NAFNet-style U-Net with "
                     "attention-gated skips), exported by midnet. " + INFOBAR_NOTE)[:1024],
        authors=bmz_descr.authors(authors),
        cite=bmz_descr.citations(),
        license="CC-BY-4.0",
        tags=list(bmz_descr.TAGS),
        documentation=bmz.FileDescr(source=parts["documentation"]),
        covers=[bmz.FileDescr(source=parts["cover"])],
        attachments=[bmz.FileDescr(source=source.file)],
        inputs=[bmz_descr.input_tensor(parts["test_input"], parts["sample_input"], halo)],
        outputs=[bmz_descr.output_tensor(parts["test_output"], parts["sample_output"], halo)],
        weights=bmz_descr.weights(parts["weights"]),
        config=bmz_descr.config(net, source, tile, halo, PACKAGE_FORMAT),
    )
