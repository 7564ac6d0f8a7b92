"""How close each inference path comes to this machine's limits, all measured in one process.

1. The limits: torch.mm on big square matrices in fp32 and bf16 (GFLOP/s at the process's
   threads) and the memory bandwidth of a large copy (GB/s, read + write).
2. The network's work per 1280x960 frame: FLOPs counted once (torch.utils.flop_counter
   on the fused copy: convolutions and matrix products; element-wise work is not
   counted) and the memory traffic, estimated as every leaf module's input and output
   activations read or written once (fp32 4 bytes, bf16 2 bytes a value; engines that
   fuse element-wise work move less, so this is an upper bound for them).
3. Each path on the real frame 1-1 (a generated frame when the data is absent), plain
   eager fp32 = 1.00x: seconds, speed, GFLOP/s, share of the matching matmul peak, the
   traffic's time at the measured bandwidth as a share of the frame's time, and the
   max / mean difference from plain fp32 (the network's normalised scale). Paths: the
   restorer in torch fp32/bf16, ONNX Runtime fp32, OpenVINO fp32/bf16 and one int8 try
   (ONNX Runtime static QDQ quantisation calibrated on the frame itself).
4. Start-up per engine: the first frame's extra seconds with a cold cache (export,
   compile) and a warm one (a fresh cache folder, then the same in a new restorer with
   in-process compiled models dropped), and ``engine="auto"``'s measurement, cold and cached.
    python -m benchmarks.bench_peak [--repeats 3] [--no-int8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import product_model, threads
from midnet.images import intensity
from midnet.data.shared import shared_pairs
from midnet.inference.settings import RestoreSettings
from midnet.inference.engine_choice import installed
from midnet.inference.fast import inference_copy
from midnet.inference.restore import make_restorer

DATA = shared_pairs()


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def bandwidth(mib: int = 512, repeats: int = 5) -> float:
    src = torch.ones(mib * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = min(_seconds(lambda: dst.copy_(src)) for _ in range(repeats))
    return 2 * src.numel() * 4 / best / 1e9  # read + write


def network_work(net, x: torch.Tensor) -> tuple[float, float]:
    """(GFLOP, GB of activations moved in fp32) of one forward of ``net`` on ``x``."""
    from torch.utils.flop_counter import FlopCounterMode

    moved = [0]

    def count(module, inputs, output):
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        moved[0] += sum(t.numel() for t in tensors) * 4

    leaves = [m for m in net.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    for h in handles:
        h.remove()
    return counter.get_total_flops() / 1e9, moved[0] / 1e9


def frame() -> np.ndarray:
    from midnet.images.io import read_image, to_gray_float

    if (DATA / "blur" / "1-1.png").is_file():
        return to_gray_float(read_image(DATA / "blur" / "1-1.png").array[:960])
    return np.random.default_rng(0).random((960, 1280), dtype=np.float32)


def int8_runner(net, gray: np.ndarray):
    """ONNX Runtime on a statically quantised (QDQ, int8 weights and activations) copy of the cached ONNX file."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    from midnet.inference.onnx_graph import cached_onnx

    x = _normalised(gray)
    padded = torch.nn.functional.pad(torch.from_numpy(x)[None, None], (0, 0, 0, (-960) % 16), mode="reflect").numpy()

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": padded[..., :480, :640]}, {"x": padded[..., 480:, 640:]}])

        def get_next(self):
            return next(self.items, None)

    out = Path(tempfile.mkdtemp()) / "int8.onnx"
    quantize_static(str(cached_onnx(net)), str(out), Reader(), activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads()
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"x": padded})[0][0, 0, :960]


def _normalised(gray: np.ndarray) -> np.ndarray:
    return intensity.measure(gray).forward(gray)


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paths(net, gray: np.ndarray, int8: bool) -> dict[str, tuple[str, object]]:
    """label -> (precision, function giving the output on the normalised scale)."""
    scale = intensity.measure(gray)
    x = torch.from_numpy(scale.forward(gray))[None, None]

    def plain():
        with torch.no_grad():
            return net(x)[0, 0].numpy()

    def restorer(engine, precision):
        r = make_restorer(RestoreSettings(model=net, engine=engine, precision=precision))
        return lambda: scale.forward(r(gray))

    found = {"plain eager fp32": ("fp32", plain), "restorer torch fp32": ("fp32", restorer("torch", "fp32")),
             "restorer torch bf16": ("bf16", restorer("torch", "bf16"))}
    if installed("onnx"):
        found["onnxruntime fp32"] = ("fp32", restorer("onnx", "fp32"))
    if installed("openvino"):
        found["openvino fp32"] = ("fp32", restorer("openvino", "fp32"))
        found["openvino bf16"] = ("bf16", restorer("openvino", "bf16"))
    if int8 and installed("onnx"):
        try:
            found["onnxruntime int8 (static QDQ)"] = ("int8", int8_runner(inference_copy(net), gray))
        except Exception as exc:  # noqa: BLE001  a failed try is a result too
            print(f"int8 try failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    return found


def path_table(net, gray, repeats: int, int8: bool, peaks: dict, gbps: float) -> None:
    x = torch.from_numpy(_normalised(gray))[None, None]
    gflop, gbytes = network_work(inference_copy(net), x)
    print(f"network: {gflop:.1f} GFLOP per 1280x960 frame (convolutions); activations moved ~{gbytes:.2f} GB in fp32")
    found = paths(net, gray, int8)
    outputs = {k: fn() for k, (_, fn) in found.items()}  # warm-up: exports, compiles
    times = {k: [] for k in found}
    for _ in range(repeats):  # alternating: a shared machine's drifts hit every path
        for k, (_, fn) in found.items():
            times[k].append(_seconds(fn))
    ref, t_ref = outputs["plain eager fp32"], min(times["plain eager fp32"])
    print(f"{'path':<30} {'s':>6} {'speed':>6} {'GFLOP/s':>8} {'% peak':>7} {'traffic/BW':>10} {'max diff':>9} {'mean diff':>9}")
    for k, (precision, _) in found.items():
        t = min(times[k])
        peak = peaks.get(precision, peaks["fp32"])
        traffic = gbytes * (0.5 if precision == "bf16" else 0.25 if precision == "int8" else 1.0) / gbps
        d = np.abs(outputs[k] - ref)
        print(f"{k:<30} {t:6.3f} {t_ref / t:5.2f}x {gflop / t:8.1f} {100 * gflop / t / peak:6.1f}% "
              f"{100 * traffic / t:9.1f}% {d.max():9.2e} {d.mean():9.2e}")


def startup_table(model: str, gray: np.ndarray) -> None:
    """Cold: a fresh cache folder (the ONNX export is timed once, apart); warm: the same again in a new restorer."""
    from midnet.inference import engines
    from midnet import load_model
    from midnet.inference.onnx_graph import cached_onnx

    print("\nstart-up: seconds before the first 256x256 result beyond a steady call (model load included)")
    small = np.ascontiguousarray(gray[:256, :256])
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MIDNET_CACHE_DIR"] = cache
        if installed("onnx"):
            export = _seconds(lambda: cached_onnx(inference_copy(load_model(model))))
            print(f"  ONNX export, once per model (cold cache only): {export:.1f} s")
        for engine, precision in [("torch", "fp32"), ("torch", "bf16"), ("onnx", "fp32"), ("openvino", "fp32"),
                                  ("openvino", "bf16"), ("auto", "auto")]:
            if engine != "auto" and not installed(engine):
                continue
            row = []
            for _ in ("cold", "warm"):
                engines._compiled.clear()  # as a new process would: OpenVINO reloads from its cache folder
                t0 = time.perf_counter()
                r = make_restorer(RestoreSettings(model=model, engine=engine, precision=precision))
                r(small)
                first = time.perf_counter() - t0
                row.append(first - _seconds(lambda: r(small)))
            picked = f" (picked {r.provenance['engine']} {r.provenance['precision']})" if engine == "auto" else ""
            print(f"  {engine + ' ' + precision:<16} cold {row[0]:6.2f} s, warm cache {row[1]:5.2f} s{picked}")
    os.environ.pop("MIDNET_CACHE_DIR", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="midnet-sem")
    parser.add_argument("--no-int8", action="store_true")
    parser.add_argument("--no-startup", action="store_true")
    args = parser.parse_args()
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    peaks["int8"] = peaks["bf16"]  # no int8 matmul in torch to measure: compared with the bf16 peak
    gbps = bandwidth()
    print(f"{threads()} threads; matmul peak fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; "
          f"copy bandwidth {gbps:.1f} GB/s")
    net, label = product_model(args.model)
    print(f"model {label}; 1280x960 frame; best of {args.repeats}")
    gray = frame()
    path_table(net, gray, args.repeats, not args.no_int8, peaks, gbps)
    if not args.no_startup:
        startup_table(args.model, gray)


if __name__ == "__main__":
    main()
