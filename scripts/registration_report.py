"""The figures of docs/results.md section 0 and of the padding note in midnet/inference/tiling.py.

For every pair of the shared SEM data it prints:
- the affine map from sharp to blurry pixels (measure_transform): global shift, scales,
  rotation, shear, and the largest error left by the best single shift; then its fitted
  translation to 0.01 px (which moves with the BLAS kernel on 7-1, results section 10.3);
- the noise of the blurry frame (Immerkaer's estimate, gray levels of 255) as read, after
  nearest-neighbour registration (what midnet does) and after bicubic registration, with
  the input PSNR / SSIM each gives;
- with --model, the whole-frame PSNR of that model's restoration when the frame is padded
  to the network's multiple with zeros (the network's own padding) or by reflection (midnet's).
    python scripts/registration_report.py [--names 1-1,6-1] [--model runs/sem-fold0/last.safetensors]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.signal import convolve2d

from midnet.data.pairs import load_pairs
from midnet.data.register import measure_transform, register
from midnet.data.shared import shared_pairs
from midnet.quality.evaluate import quantise
from midnet.inference.fast import optimize_for_inference
from midnet.quality.metrics import psnr, ssim
from midnet.models.blocks import pad_to_multiple
from midnet.models.zoo import load_model

LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], float)


def noise(image: np.ndarray) -> float:
    """Immerkaer (1996) fast noise estimate, in gray levels of 255."""
    h, w = image.shape
    return float(np.sqrt(np.pi / 2) / (6 * (w - 2) * (h - 2)) * np.abs(convolve2d(image, LAPLACE, "valid")).sum() * 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(shared_pairs()))
    parser.add_argument("--names", default=None, help="comma-separated pairs (default: all)")
    parser.add_argument("--model", default=None, help="also compare zero and reflection padding with this model")
    args = parser.parse_args()
    pairs = load_pairs(args.data, "auto", args.names.split(",") if args.names else None, align="none", warn_shift=False)
    net = optimize_for_inference(load_model(args.model)) if args.model else None
    print("| pair | shift (dy, dx) of sharp onto blur | horizontal scale | vertical scale | rotation (deg) "
          "| shear (deg) | largest error of the best shift |")
    rows = []
    for p in pairs:
        t = measure_transform(p.sharp, p.blur, shift=p.shift)
        h, w = p.sharp.shape
        yy, xx = np.mgrid[0:h:16, 0:w:16]
        pts = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
        moved = t(pts) - pts
        worst = np.linalg.norm(moved - moved.mean(0), axis=1).max()
        print(f"| {p.name} | ({p.shift[0]:.0f}, {p.shift[1]:.0f}) | {100 * (t.scale[0] - 1):+.2f}% "
              f"| {100 * (t.scale[1] - 1):+.2f}% | {np.degrees(t.rotation):+.2f} | {np.degrees(t.shear):+.2f} "
              f"| {worst:.1f} px |")
        rows.append((p, t))
    print("\npair: the affine map's translation (x, y), px")
    for p, t in rows:
        print(f"{p.name}: ({t.translation[0]:+.2f}, {t.translation[1]:+.2f})")
    print("\npair: blurry-frame noise (gray levels) and input PSNR / SSIM after registration")
    for p, t in rows:
        nearest, sharp = register(p.sharp, p.blur, t)  # midnet's: nearest neighbour
        cubic, _ = register(p.sharp, p.blur, t, order=3)  # the same crop, interpolated
        print(f"{p.name}: as read {noise(p.blur):.2f}; nearest {noise(nearest):.2f} "
              f"(input {psnr(sharp, nearest, 1):.2f} / {ssim(sharp, nearest, 1):.4f}); bicubic {noise(cubic):.2f} "
              f"(input {psnr(sharp, cubic, 1):.2f} / {ssim(sharp, cubic, 1):.4f})")
        if net is not None:
            x = torch.from_numpy(nearest)[None, None]
            h, w = nearest.shape
            with torch.inference_mode():
                zeros = net(x)[0, 0].numpy()  # the module pads with zeros itself
                reflect = net(pad_to_multiple(x, net.padder_size, mode="reflect"))[0, 0, :h, :w].numpy()
            print(f"   {args.model} on {h}x{w}: zero padding {psnr(sharp, quantise(zeros, p.full_scale), 1):.2f} dB, "
                  f"reflection {psnr(sharp, quantise(reflect, p.full_scale), 1):.2f} dB")


if __name__ == "__main__":
    main()
