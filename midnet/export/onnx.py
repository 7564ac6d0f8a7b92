"""``midnet export --format onnx``: one ONNX file that takes a micrograph's own values and returns its restoration.

The network's graph is the one ``--engine onnx`` runs (midnet/inference/onnx_graph.py: normalised
input, H and W multiples of the U-Net's stride), taken from midnet's cache (exported into
it first when not there), so a network is traced once whether it is run or exported
first. Around it this module puts midnet's intensity map and padding
(midnet/export/intensity_graph.py): the file takes float32 (N, C, H, W) of the file's
values, any range and any size, and returns the restoration on the same scale, as
``midnet deblur`` computes it before rounding.

The raw file is built from the cached graph in well under a second and is not cached
itself: the cache only ever holds the normalised graph, under its own name, so neither
can be taken for the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..errors import MidnetError
from ..inference.onnx_graph import INSTALL_HINT, cached_onnx, cpu_inference_copy, export_metadata, size_multiple
from ..images.publish import atomic_write
from .intensity_graph import wrap_onnx

MIN_OPSET = 18  # ReduceMax/ReduceMin/ReduceMean take their axes as an input from opset 18 on
INTENSITY = ("inside the graph: input and output are the frame's own values (float32 of the file's values, "
             "any range); the graph maps the frame's {low}th/{high}th percentiles (numpy's linear interpolation on "
             "the frame subsampled with stride ceil(sqrt(H*W/{pixels}))) onto 0/1, restores and maps back")


def raw_metadata(net: nn.Module) -> dict[str, str]:
    """The ``midnet.*`` metadata of a raw-in raw-out file (ONNX metadata_props, TorchScript's midnet.json)."""
    from ..images import intensity

    low, high = intensity.PERCENTILES
    metadata = export_metadata(net)
    metadata.update({
        "midnet.units": "raw",  # the earlier normalised-units files lack this key: a reader can tell them apart
        "midnet.normalisation": INTENSITY.format(low=f"{low:g}", high=f"{high:g}", pixels=intensity.SAMPLE_PIXELS),
        "midnet.padding": "inside the graph: bottom and right by reflection (replicate where a side is too short) "
                          f"to a multiple of {size_multiple(net)}, output cropped back",
        "midnet.min_size": "1",
        "midnet.size_rule": "any H and W (padded inside the graph)",
    })
    return metadata


def raw_onnx_model(net: nn.Module):
    """The ONNX model (onnx.ModelProto) of ``net`` that takes and returns raw values."""
    try:
        import onnx
    except ImportError:
        raise MidnetError(INSTALL_HINT) from None
    fused = cpu_inference_copy(net)
    model = onnx.load(str(cached_onnx(fused)))
    opset = next((o for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset.version < MIN_OPSET:
        raise MidnetError(f"the network's ONNX graph has opset {opset.version if opset else 'none'}; the intensity "
                          f"map needs {MIN_OPSET} or later: upgrade torch and onnxscript")
    wrap_onnx(model, size_multiple(fused), fused.in_chans)
    metadata = raw_metadata(fused)
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"midnet {metadata['midnet.version']}: {metadata['midnet.normalisation']}"
    onnx.checker.check_model(model)
    return model


def export_onnx_file(net: nn.Module, path: str | os.PathLike, replace: bool = True) -> Path:
    """Write ``net`` as ONE raw-in raw-out ONNX file: dynamic batch, height and width (atomically)."""
    model = raw_onnx_model(net)
    path = Path(path)
    with atomic_write(path, replace=replace) as tmp:
        Path(tmp).write_bytes(model.SerializeToString())
    return path
