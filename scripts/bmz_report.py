"""Figures for docs/fiji.md: a midnet BMZ package run by bioimageio.core against `midnet deblur`.

    python scripts/bmz_report.py PACKAGE.zip [--frames 3-1,9-1] [--tiles 256,512,768] [--halos 0,16,32,64]

For each real micrograph (info bar cropped) and each weight format: bioimageio.core's
whole-frame prediction (grey levels in, grey levels out: the weights hold the intensity
map) against `midnet deblur` (8-bit) and against midnet's float result. Then
bioimageio.core's whole-frame and blockwise predictions (fixed blocks, each halo) against
midnet's whole-frame result: the drift of independent tiles, each of which measures its
own percentiles and whose channel attention pools only over the tile.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from midnet.data.shared import shared_pairs

PAIRS = shared_pairs()


def load_frame(name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(PAIRS / "blur" / f"{name}.png"))[..., 0]


def bmz_predict(pipeline, body: np.ndarray, block: int | None = None) -> np.ndarray:
    """bioimageio.core's prediction in grey levels (float), whole or in fixed blocks of ``block`` pixels."""
    from bioimageio.core import Sample, Tensor
    from bioimageio.core.axis import AxisId
    from bioimageio.spec.model.v0_5 import TensorId

    tensor = Tensor(body.astype(np.float32)[None, None], dims=("batch", "channel", "y", "x"))
    sample = Sample(members={TensorId("input"): tensor}, stat={}, id="frame")
    if block is None:
        out = pipeline.predict_sample_without_blocking(sample)
    else:
        shape = {TensorId("input"): {AxisId("y"): block, AxisId("x"): block, AxisId("batch"): 1, AxisId("channel"): 1}}
        out = pipeline.predict_sample_with_fixed_blocking(sample, input_block_shape=shape)
    return out.members[TensorId("output")].data.values[0, 0].astype(np.float32)


def set_halo(descr, halo: int, pad: str | None = None) -> None:
    """Give the loaded description another output halo (0: none) and input padding, in place (bypassing validation)."""
    from bioimageio.spec.model import v0_5

    if pad is not None:
        modes = {"reflect": v0_5.ReflectPadding, "edge": v0_5.EdgePadding, "symmetric": v0_5.SymmetricPadding}
        object.__setattr__(descr.inputs[0], "pad", modes[pad]())
    axes = list(descr.outputs[0].axes)
    for i, a in enumerate(axes[2:], start=2):
        axes[i] = (v0_5.SpaceOutputAxisWithHalo(id=a.id, size=a.size, halo=halo) if halo
                   else v0_5.SpaceOutputAxis(id=a.id, size=a.size))
    object.__setattr__(descr.outputs[0], "axes", axes)
    for a in descr.inputs[0].axes[2:]:
        step = a.size.step
        object.__setattr__(a.size, "min", max(16, step * (2 * halo // step + 1)))


def equality(descr, frames: list[str], formats: list[str]) -> None:
    import midnet
    from bioimageio.core import create_prediction_pipeline
    from midnet.inference.restore import make_restorer
    from midnet.inference.settings import EXACT, RestoreSettings

    restorer = make_restorer(RestoreSettings.exact(model="midnet-sem"))
    print("format       frame  max|float-midnet| (grey)  8-bit max|diff|  8-bit pixels differing")
    for fmt in [f for f in formats if getattr(descr.weights, f) is not None]:
        with create_prediction_pipeline(descr, weight_format=fmt) as pp:
            for name in frames:
                img = load_frame(name)
                body = img[:960]
                ref8 = midnet.deblur(img, **EXACT)[:960].astype(np.int32)
                ref = restorer(body.astype(np.float32) / 255) * 255
                got = bmz_predict(pp, body.astype(np.float32))
                got8 = np.clip(np.round(got), 0, 255).astype(np.int32)
                d8 = np.abs(got8 - ref8)
                print(f"{fmt:12s} {name:5s}  {np.abs(got - ref).max():.4f}"
                      f"                  {d8.max()}                {(d8 > 0).mean() * 100:.3f} %")


def drift(descr, frames: list[str], tiles: list[int], halos: list[int], pad: str | None = None) -> None:
    """Whole-frame (block 0: bioimageio.core pads the frame by the halo) and tiled output against midnet's."""
    from bioimageio.core import create_prediction_pipeline
    from midnet.inference.restore import make_restorer
    from midnet.inference.settings import RestoreSettings

    restorer = make_restorer(RestoreSettings.exact(model="midnet-sem"))
    print("frame  block  halo  max|bmz-midnet| (grey)  mean  99.9th pct  pixels off by >1 grey"
          "  | same, frame's outer 32 px excluded: max  mean  >1")
    for name in frames:
        body = load_frame(name)[:960].astype(np.float32)
        ref = restorer(body / 255) * 255
        for halo in halos:
            set_halo(descr, halo, pad)
            with create_prediction_pipeline(descr, weight_format="onnx") as pp:
                for tile in [0] + tiles:
                    if tile and tile <= 2 * halo:
                        continue
                    d = np.abs(bmz_predict(pp, body, tile or None) - ref)
                    inner = d[32:-32, 32:-32]
                    print(f"{name:5s}  {tile or 'whole':>5}  {halo:4d}  {d.max():8.2f}  {d.mean():8.3f}  "
                          f"{np.percentile(d, 99.9):8.2f}  {(d > 1).mean() * 100:8.3f} %  |  {inner.max():8.2f}  "
                          f"{inner.mean():8.3f}  {(inner > 1).mean() * 100:8.3f} %", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package")
    parser.add_argument("--frames", default="3-1,9-1")
    parser.add_argument("--tiles", default="256,512,768")
    parser.add_argument("--halos", default="0,16,32,64")
    parser.add_argument("--pad", choices=["symmetric", "reflect", "edge"], default=None,
                        help="padding of the frame's border (default: the package's, else bioimageio's symmetric)")
    parser.add_argument("--formats", default="onnx,torchscript", help="weight formats to compare with midnet")
    parser.add_argument("--skip-equality", action="store_true")
    parser.add_argument("--skip-drift", action="store_true")
    args = parser.parse_args(argv)
    from bioimageio.spec import load_description

    descr = load_description(args.package)
    frames = args.frames.split(",")
    if not args.skip_equality:
        equality(descr, frames, args.formats.split(","))
    if args.skip_drift:
        return 0
    print(f"padding of the frame's border: {args.pad or 'as packaged'}")
    drift(descr, frames, [int(t) for t in args.tiles.split(",")], [int(h) for h in args.halos.split(",")], args.pad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
