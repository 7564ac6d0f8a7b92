"""The pieces of a BMZ package's description, as bioimageio.spec 0.5 classes (used by midnet/export/bmz.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from bioimageio.spec.model import v0_5 as bmz
from torch import nn

from ..images import intensity

TAGS = ("deblurring", "image-restoration", "scanning-electron-microscopy", "electron-microscopy", "sem",
        "materials-science", "microstructure", "2d", "grayscale", "u-net", "nafnet", "midnet", "onnx", "torchscript")
PAPER = ("Wang, Li, Shi, Yu, Sun. MIDNet: Deblurring Network for Material Microstructure Images. "
         "Computers, Materials & Continua 79(1):1187-1204, 2024.")
NAFNET = "Chen, Chu, Zhang, Sun. Simple Baselines for Image Restoration (NAFNet). ECCV 2022, pp. 17-33."
DATASET = ("SEM blur/sharp micrograph pairs published with Wang et al. 2024 (etched alloy, JEOL, x8,000, 20 kV; "
           "CC BY 4.0). The dataset has no DOI of its own: it is cited by its repository and the paper's DOI.")
DATASET_URL = "https://github.com/woshigui/MIDNet"
PAPER_DOI = "10.32604/cmc.2024.046929"
NAFNET_DOI = "10.1007/978-3-031-20071-7_2"
Y, X = bmz.AxisId("y"), bmz.AxisId("x")
INPUT, OUTPUT = bmz.TensorId("input"), bmz.TensorId("output")


def authors(given: list[dict[str, str]] | None) -> list[bmz.Author]:
    return [bmz.Author(**a) for a in (given or [{"name": "The midnet project"}])]


def citations() -> list[bmz.CiteEntry]:
    return [
        bmz.CiteEntry(text=PAPER, doi=bmz.Doi(PAPER_DOI)),
        bmz.CiteEntry(text=NAFNET, doi=bmz.Doi(NAFNET_DOI)),
        bmz.CiteEntry(text=DATASET, url=bmz.HttpUrl(DATASET_URL)),
    ]


def _space_sizes(halo: int) -> bmz.ParameterizedSize:
    """Any size from midnet's smallest frame on (the weights pad to the U-Net's stride themselves), larger than
    the two halos a consumer crops from a tile."""
    from ..inference.restore import MIN_SIDE

    return bmz.ParameterizedSize(min=max(MIN_SIDE, 2 * halo + 1), step=1)


def input_tensor(test_input: Path, sample: Path, halo: int) -> bmz.InputTensorDescr:
    return bmz.InputTensorDescr(
        id=INPUT,
        description="Grey SEM micrograph, info bar cropped, in the file's own grey levels (any bit depth or range)",
        axes=[bmz.BatchAxis(), bmz.ChannelAxis(channel_names=[bmz.Identifier("gray")]),
              bmz.SpaceInputAxis(id=Y, size=_space_sizes(halo)),
              bmz.SpaceInputAxis(id=X, size=_space_sizes(halo))],
        test_tensor=bmz.FileDescr(source=test_input),
        sample_tensor=bmz.FileDescr(source=sample),
        data=bmz.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=[bmz.EnsureDtypeDescr(kwargs=bmz.EnsureDtypeKwargs(dtype="float32"))],
    )


def output_tensor(test_output: Path, sample: Path, halo: int) -> bmz.OutputTensorDescr:
    def space(axis: bmz.AxisId):
        size = bmz.SizeReference(tensor_id=INPUT, axis_id=axis)
        if halo == 0:  # no halo: whole-frame consumers then run the frame as it is, as midnet does
            return bmz.SpaceOutputAxis(id=axis, size=size)
        return bmz.SpaceOutputAxisWithHalo(id=axis, size=size, halo=halo)

    return bmz.OutputTensorDescr(
        id=OUTPUT,
        description="Deblurred micrograph in the input's own grey levels: round and clip to the file's type to save it",
        axes=[bmz.BatchAxis(), bmz.ChannelAxis(channel_names=[bmz.Identifier("gray")]), space(Y), space(X)],
        test_tensor=bmz.FileDescr(source=test_output),
        sample_tensor=bmz.FileDescr(source=sample),
        data=bmz.IntervalOrRatioDataDescr(type="float32"),
    )


def _opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def weights(files: dict[str, Path]) -> bmz.WeightsDescr:
    torch_version = bmz.Version(torch.__version__.split("+")[0])
    entries: dict[str, Any] = {}
    if "torchscript" in files:
        entries["torchscript"] = bmz.TorchscriptWeightsDescr(source=files["torchscript"], pytorch_version=torch_version)
    if "onnx" in files:
        # converted from the same torch module as the TorchScript; the spec wants one root entry
        parent = "torchscript" if "torchscript" in files else None
        entries["onnx"] = bmz.OnnxWeightsDescr(source=files["onnx"], opset_version=_opset(files["onnx"]), parent=parent)
    return bmz.WeightsDescr(**entries)


def config(net: nn.Module, source, tile: int, halo: int, package_format: str) -> bmz.Config:
    """The zoo's model facts, and midnet's own section (what ``midnet deblur --model package.zip`` reads)."""
    import hashlib

    from ..inference.cache import weights_sha256

    file_bytes = source.file.read_bytes()
    params = sum(p.numel() for p in net.parameters())
    training = bmz.TrainingDetails(training_preprocessing=(
        "Each blurry frame's 1st/99.8th percentiles mapped to 0/1 and the same map applied to its sharp frame; "
        "info bar (64 rows) excluded; blurry frame registered onto the sharp one (affine, nearest neighbour). "
        "Training data: " + DATASET))
    midnet_section = {
        "format": package_format,
        "weights": source.file.name,
        "weights_sha256": hashlib.sha256(file_bytes).hexdigest(),  # the attachment's bytes: checked on loading
        "state_sha256": weights_sha256(net),  # midnet.inference.cache's key of the same weights
        "model_config": net.config.model_dump(mode="json") if hasattr(net, "config") else None,
        "intensity_percentiles": list(intensity.PERCENTILES),
        "intensity_map": "inside the weights: raw grey levels in, raw grey levels out",
        "output_units": "the input's own grey levels",
        "recommended_tile": tile or "whole frame",
        "recommended_halo": halo,
        "infobar": "crop it before running the model (64 rows on the training microscope)",
    }
    return bmz.Config(
        bioimageio=bmz.BioimageioConfig(
            architecture_type="U-Net", modality="scanning electron microscopy", task="deblurring",
            model_parameter_count=params, training=training,
            target_structure=["material microstructure"],
        ),
        midnet=midnet_section,
    )
