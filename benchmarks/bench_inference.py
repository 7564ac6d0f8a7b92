"""midnet's inference path against the plain eager forward, on a 1280x960 grayscale image.

Reference: what the official NAFNet code does: float32 NCHW, torch.no_grad(), the whole
image, the same module and weights. Product path: midnet.deblur's restorer (fused
blocks, channels-last, inference_mode). Both in this process, alternating, best of N.
Prints both times, their ratio and the largest difference of the float outputs.
``--alternatives`` also times the fast copy under ``torch.compile`` and ONNX Runtime (when
installed), start-up (compile or export + session) included, to say whether they pay.
    python -m benchmarks.bench_inference [--repeats 5] [--model midnet-sem] [--alternatives]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import best_time, product_model, threads
from midnet.inference.fast import optimize_for_inference
from midnet.inference.settings import RestoreSettings
from midnet.inference.restore import make_restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="midnet-sem")
    parser.add_argument("--alternatives", action="store_true", help="also torch.compile and ONNX Runtime")
    args = parser.parse_args()
    net, label = product_model(args.model)
    gray = np.random.default_rng(0).random((960, 1280), dtype=np.float32)
    x = torch.from_numpy(gray)[None, None]

    def plain() -> np.ndarray:
        with torch.no_grad():
            return net(x)[0, 0].numpy()

    restore = make_restorer(RestoreSettings.exact(model=net))  # midnet.deblur with engine torch, fp32 (built once, here)
    ref, fast = plain(), restore(gray)  # warm-up, and the equality check
    t_plain, t_fast = [], []
    for _ in range(args.repeats):  # alternate, so drifts of a shared machine hit both
        t0 = time.perf_counter(); plain(); t_plain.append(time.perf_counter() - t0)  # noqa: E702
        t0 = time.perf_counter(); restore(gray); t_fast.append(time.perf_counter() - t0)  # noqa: E702
    p, f = min(t_plain), min(t_fast)
    print(f"model {label}; 1280x960 gray; {threads()} threads; best of {args.repeats}")
    print(f"plain eager forward (NCHW, no_grad):  {p:6.3f} s")
    print(f"midnet.deblur restorer:               {f:6.3f} s")
    print(f"speed-up: {p / f:.2f}x; max |difference| of float outputs: {np.abs(ref - fast).max():.2e}")
    if args.alternatives:
        for name, build in (("torch.compile", _compiled), ("ONNX Runtime", _onnx)):
            t0 = time.perf_counter()
            try:
                run = build(optimize_for_inference(net), x)
                out = run()  # the first call pays the compilation or export
            except Exception as exc:  # an optional backend missing or failing is a result too
                print(f"{name:38s} unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
                continue
            start = time.perf_counter() - t0
            steady = best_time(run, repeats=args.repeats, warmup=0)
            pays = f"pays after {start / (f - steady):.0f} images" if steady < f else "never pays"
            print(f"{name + ' (fast copy)':38s} {steady:6.3f} s; start-up {start:5.1f} s; {p / steady:.2f}x plain, "
                  f"{f / steady:.2f}x restorer; max |difference| {np.abs(ref - out).max():.2e}; {pays}")


def _compiled(net, x):
    fn = torch.compile(net, dynamic=False)
    xc = x.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            return fn(xc)[0, 0].numpy()
    return run


def _onnx(net, x):
    """The engine `midnet deblur --engine onnx` uses (export on the first call)."""
    from midnet.inference.engines import OnnxEngine

    engine = OnnxEngine(net)
    return lambda: engine(x)[0, 0].numpy()

if __name__ == "__main__":
    main()
