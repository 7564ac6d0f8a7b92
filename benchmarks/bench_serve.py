"""Load test of ``midnet serve`` on loopback: many clients, one queue, every result checked against deblur.

Three runs of a real ``midnet serve`` process, each on a fresh data folder:

1. ``--small`` files (5) from as many clients: the reference peak memory;
2. ``--files`` 512x512 16-bit micrographs (50) uploaded at once by ``--clients`` (20) threads, each its
   own client id: the time until all are restored, the most files queued at once, the peak memory
   (the server's VmHWM, its resident high-water mark), which must stay within 10% of run 1's;
3. ``--kill-files`` (20) uploaded, the server killed with SIGKILL as soon as one is done, started again
   on the same data folder: every job must come back done.

Every result of every run must be byte-identical to what ``midnet deblur`` wrote for the same file
with the same options (run once, first, and timed). Bounded: 20 minutes at most per run. The
machine's load average is printed at the start and the end: the seconds mean little without it.

    python -m benchmarks.bench_serve [--files 50] [--clients 20] [--engine torch] [--precision fp32]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

LIMIT_S = 1200


def micrographs(folder: Path, count: int, size: int = 512) -> dict[str, bytes]:
    """``count`` 16-bit frames with structure, noise and an info bar, written to ``folder``."""
    import tifffile
    from scipy import ndimage

    folder.mkdir(parents=True)
    out = {}
    for i in range(count):
        rng = np.random.default_rng(i)
        field = ndimage.gaussian_filter(rng.random((size, size)), 2.5 + (i % 5))
        field = (field - field.min()) / (np.ptp(field) + 1e-9) * 50000 + rng.normal(0, 300, field.shape) + 5000
        frame = np.clip(field, 0, 65535).astype(np.uint16)
        frame[-48:] = 6000
        tifffile.imwrite(folder / f"m{i:03d}.tif", frame)
        out[f"m{i:03d}.tif"] = (folder / f"m{i:03d}.tif").read_bytes()
    return out


class ServeProcess:
    def __init__(self, data: Path, options: list[str]):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.cmd = [sys.executable, "-m", "midnet.cli", "serve", "--port", str(self.port), "--data", str(data), *options]
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"midnet serve exited with {self.proc.returncode}: {' '.join(self.cmd)}")
            try:
                if httpx.get(self.url + "api/status", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        raise SystemExit("midnet serve did not come up in 300 s")

    def peak_mib(self) -> float:
        """The process's resident high-water mark (VmHWM), MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmHWM in /proc (Linux only)")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload_all(url: str, frames: dict[str, bytes], clients: int) -> dict[str, tuple[str, str]]:
    """Upload ``frames`` split between ``clients`` threads at once; job id -> (client, file name)."""
    names = sorted(frames)
    shares = [names[i::clients] for i in range(clients)]

    def one_client(share: list[str]) -> list[tuple[str, str, str]]:
        with httpx.Client(base_url=url, timeout=120) as c:
            me = c.post("api/clients").json()["client"]
            done = []
            for name in share:
                r = c.post("api/jobs", data={"client": me}, files={"file": (name, frames[name])})
                r.raise_for_status()
                done.append((r.json()["id"], me, name))
            return done

    with ThreadPoolExecutor(clients) as pool:
        return {job: (me, name) for part in pool.map(one_client, [s for s in shares if s]) for job, me, name in part}


def wait_all(url: str, jobs: dict[str, tuple[str, str]], limit_s: float = LIMIT_S) -> tuple[dict[str, bytes], int]:
    """Results of every job (name -> bytes) once all are done, and the most jobs seen waiting at once."""
    end, most = time.monotonic() + limit_s, 0
    clients = {me for me, _ in jobs.values()}
    with httpx.Client(base_url=url, timeout=120) as c:
        while time.monotonic() < end:
            status = c.get("api/status").json()
            most = max(most, status["queued"] + status["running"])
            listed = [j for me in clients for j in c.get("api/jobs", params={"client": me}).json()]
            failed = [j for j in listed if j["state"] in ("failed", "cancelled")]
            if failed:
                raise SystemExit(f"{len(failed)} jobs failed: {failed[0]['message']}")
            if len(listed) == len(jobs) and all(j["state"] == "done" for j in listed):
                return {jobs[j["id"]][1]: c.get(j["result"]).content for j in listed}, most
            time.sleep(0.5)
    raise SystemExit(f"not all {len(jobs)} jobs done within {limit_s} s")


def check(results: dict[str, bytes], reference: Path, expected: int, label: str) -> None:
    assert len(results) == expected, f"{label}: {len(results)} results for {expected} files"
    differ = [n for n, content in results.items() if content != (reference / n).read_bytes()]
    assert not differ, f"{label}: {len(differ)} results differ from midnet deblur's, e.g. {differ[0]}"


def run_load(root: Path, frames: dict[str, bytes], clients: int, options: list[str], reference: Path,
             label: str) -> dict:
    """One server, ``frames`` uploaded by ``clients`` at once: seconds, most queued, peak memory."""
    server = ServeProcess(root / f"data-{label}", options)
    try:
        t0 = time.perf_counter()
        jobs = upload_all(server.url, frames, clients)
        results, most = wait_all(server.url, jobs)
        seconds = time.perf_counter() - t0
        peak = server.peak_mib()
    finally:
        server.stop()
    check(results, reference, len(frames), label)
    return {"files": len(frames), "clients": clients, "seconds": seconds, "most_queued": most, "peak_mib": peak}


def run_kill(root: Path, frames: dict[str, bytes], options: list[str], reference: Path) -> dict:
    """Upload, SIGKILL the server once the first result is done, start it again: every job must end done."""
    server = ServeProcess(root / "data-kill", options)
    try:
        jobs = upload_all(server.url, frames, 4)
        with httpx.Client(base_url=server.url, timeout=60) as c:
            clients = {me for me, _ in jobs.values()}
            while True:
                listed = [j for me in clients for j in c.get("api/jobs", params={"client": me}).json()]
                finished = sum(j["state"] == "done" for j in listed)
                if finished:
                    break
                time.sleep(0.1)
        server.kill()
        server.start()
        results, _ = wait_all(server.url, jobs)
    finally:
        server.stop()
    check(results, reference, len(frames), "kill")
    return {"files": len(frames), "done_before_kill": finished, "all_done_after_restart": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--small", type=int, default=5)
    parser.add_argument("--kill-files", type=int, default=20)
    parser.add_argument("--engine", default="torch", help="deblur's --engine (auto measures engines first: minutes)")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    options = ["--engine", args.engine, "--precision", args.precision]
    print(_load_line("start"), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        frames = micrographs(root / "in", args.files)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "midnet.cli", "deblur", str(root / "in"), "-o", str(root / "ref"),
                        *options], check=True, stderr=subprocess.DEVNULL, timeout=LIMIT_S)
        deblur_s = time.perf_counter() - t0
        print(f"midnet deblur, {args.files} files of 512x512 uint16 ({' '.join(options)}): {deblur_s:.1f} s", flush=True)
        small = {n: frames[n] for n in sorted(frames)[: args.small]}
        few = run_load(root, small, min(args.clients, args.small), options, root / "ref", "small")
        print(_line(few), flush=True)
        many = run_load(root, frames, args.clients, options, root / "ref", "full")
        print(_line(many), flush=True)
        ratio = many["peak_mib"] / few["peak_mib"]
        print(f"peak memory, {many['files']} files against {few['files']}: {ratio:.3f}x "
              f"({'within' if abs(ratio - 1) <= 0.10 else 'NOT within'} 10%)", flush=True)
        killed = run_kill(root, {n: frames[n] for n in sorted(frames)[: args.kill_files]}, options, root / "ref")
        print(f"killed with SIGKILL after {killed['done_before_kill']} of {killed['files']} done, restarted: "
              f"all {killed['files']} done, byte-identical to deblur", flush=True)
        print(_load_line("end"), flush=True)
        if abs(ratio - 1) > 0.10:
            sys.exit(1)


def _load_line(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average at the {when}: {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _line(r: dict) -> str:
    return (f"{r['files']} files from {r['clients']} clients: {r['seconds']:.1f} s "
            f"({r['files'] / r['seconds']:.2f} files/s), at most {r['most_queued']} waiting at once, "
            f"peak memory {r['peak_mib']:.0f} MiB, all byte-identical to midnet deblur")


if __name__ == "__main__":
    main()
