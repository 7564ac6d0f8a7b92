"""The docs' picture of midnet-sem v1 against v2 (docs/results.md section 10): the same crops of one held-out micrograph, blurry, each
model's restoration and the sharp exposure, at 1:1 (top) and a zoomed detail (bottom).

The pair is registered as `midnet eval` registers it (affine, measured on the blurry/sharp
pair alone); every model restores the same whole registered blurry frame, quantised to the
file's bit depth; then the same square is cut from each. Use fold models that never saw
the micrograph (models/folds/: fold 0 holds out 1-1, 2-1, 3-1).
    python scripts/v1_v2_figure.py --name 1-1 \
        --models v1=models/folds/midnet-sem-fold0.safetensors,v2=runs/lc-fold0/last.safetensors \
        -o docs/images/v1_v2.png [--crop 400] [--detail 96] [--at TOP,LEFT]
"""

from __future__ import annotations

import argparse

from midnet.quality.compare import parse_methods
from midnet.inference.settings import RestoreSettings
from midnet.data.pairs import load_pairs
from midnet.data.shared import shared_pairs
from midnet.quality.evaluate import quantise, score_pair
from midnet.quality.figures import compare_figure
from midnet.inference.restore import make_restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(shared_pairs()))
    parser.add_argument("--name", required=True, help="the micrograph (held out by every model shown)")
    parser.add_argument("--models", required=True, help="LABEL=weights,... in the order of the columns")
    parser.add_argument("--crop", type=int, default=400, help="side of the 1:1 square")
    parser.add_argument("--detail", type=int, default=96, help="side of the zoomed square inside it")
    parser.add_argument("--at", default=None, help="TOP,LEFT of the 1:1 square (default: the frame's centre)")
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    (pair,) = load_pairs(args.data, "auto", align="affine", names=[args.name])
    h, w = pair.blur.shape
    top, left = (int(v) for v in args.at.split(",")) if args.at else ((h - args.crop) // 2, (w - args.crop) // 2)
    cut = (slice(top, top + args.crop), slice(left, left + args.crop))
    panels, labels = [pair.blur[cut]], ["blurry"]
    for label, weights in parse_methods(args.models.split(",")).items():
        restored = quantise(make_restorer(RestoreSettings.exact(model=weights))(pair.blur), pair.full_scale)
        score = score_pair(restored, pair)
        print(f"{pair.name} {label}: {score['psnr']:.2f} dB / {score['ssim']:.4f} "
              f"(blurry input {score['input_psnr']:.2f} / {score['input_ssim']:.4f})")
        panels.append(restored[cut])
        labels.append(label)
    panels.append(pair.sharp[cut])
    labels.append("sharp")
    offset = (args.crop - args.detail) // 2
    path = compare_figure(panels[0], panels[1], args.out, detail=(offset, offset, args.detail),
                          labels=tuple(labels), extra=panels[2:])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
