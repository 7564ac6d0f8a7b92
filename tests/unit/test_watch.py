"""midnet/watch.py: a folder watched as a microscope fills it.

A classical restorer (unsharp masking, no network) runs here: every file is really read,
restored and written, in milliseconds. Most tests drive one poll at a time on a hand-moved
clock; the half-written file and the two watchers run for real, in threads.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from midnet import watch as watch_module
from midnet.images.batch import plan_jobs
from midnet.images.io import read_image
from midnet.pipeline import FramePipeline
from midnet.inference.settings import RestoreSettings
from midnet.watch import CLAIMS, WatchPlan, Watcher, claim

from ..conftest import smooth_image

SETTINGS = RestoreSettings(method="unsharp", infobar="none")


@pytest.fixture(scope="module")
def pipeline() -> FramePipeline:
    return FramePipeline.build(SETTINGS)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def gray(seed: int = 0, h: int = 48, w: int = 64) -> np.ndarray:
    return np.round(smooth_image(h, w, seed=seed) * 255).astype(np.uint8)


def png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gray(seed)).save(path)
    return path


def make(tmp_path: Path, pipeline: FramePipeline, **plan) -> tuple[Watcher, Clock, list[str]]:
    (tmp_path / "in").mkdir(exist_ok=True)
    clock, lines = Clock(), []
    watcher = Watcher(WatchPlan(tmp_path / "in", tmp_path / "out", **plan), pipeline, settle=2.0, poll=0.01,
                      echo=lines.append, clock=clock)
    return watcher, clock, lines


def settle_and_take(watcher: Watcher, clock: Clock) -> list[Path]:
    """Two polls settle seconds apart, then every file found ready is taken: what run() does."""
    watcher.scan()
    clock.now += watcher.settle
    ready = watcher.scan()
    for path in ready:
        watcher.take(path)
    return ready


@pytest.fixture
def calls(monkeypatch) -> list[tuple[Path, int]]:
    """Every restore_file call: (source, its size at that moment)."""
    seen: list[tuple[Path, int]] = []
    real = FramePipeline.restore_file

    def counted(self, job, overwrite=False):
        seen.append((job.source, job.source.stat().st_size))
        return real(self, job, overwrite)

    monkeypatch.setattr(FramePipeline, "restore_file", counted)
    return seen


def test_a_file_is_taken_only_once_it_has_settled(tmp_path, pipeline, calls):
    watcher, clock, lines = make(tmp_path, pipeline)
    png(tmp_path / "in" / "a.png")
    assert watcher.scan() == []  # first seen: not yet
    clock.now += 1.9
    assert watcher.scan() == []  # unchanged, but not for settle seconds
    clock.now += 0.1
    assert watcher.scan() == [tmp_path / "in" / "a.png"]
    watcher.take(tmp_path / "in" / "a.png")
    out = tmp_path / "out" / "a.png"
    expected = pipeline.restore_one(gray(0))
    assert np.array_equal(read_image(out).array, expected)
    assert len(lines) == 1 and " restored " in lines[0] and "a.png" in lines[0]
    assert watcher.pending == {} and settle_and_take(watcher, clock) == []  # done: known by its output, not remembered


def test_a_tiff_written_in_chunks_is_never_read_half_written(tmp_path, pipeline, calls):
    """The microscope writes slowly: pauses longer than a poll, shorter than --settle."""
    (tmp_path / "in").mkdir()
    lines: list[str] = []
    watcher = Watcher(WatchPlan(tmp_path / "in", tmp_path / "out"), pipeline, settle=0.8, poll=0.05,
                      echo=lines.append)
    stack = np.stack([np.round(smooth_image(64, 80, seed=s) * 65535).astype(np.uint16) for s in (1, 2)])
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, stack)
    data = buffer.getvalue()
    target = tmp_path / "in" / "frame.tif"
    with running(watcher):
        with open(target, "wb") as f:
            for start in range(0, len(data), len(data) // 5 + 1):
                f.write(data[start:start + len(data) // 5 + 1])
                f.flush()
                time.sleep(0.3)  # six polls between two chunks
        wait_for(lambda: (tmp_path / "out" / "frame.tif").exists())
    assert calls == [(target, len(data))]  # read once, whole
    assert not any("failed" in line for line in lines)
    restored = read_image(tmp_path / "out" / "frame.tif").array
    assert np.array_equal(restored, np.stack([pipeline.restore_one(frame) for frame in stack]))


def test_a_done_file_is_skipped_and_a_restart_picks_up_what_arrived_meanwhile(tmp_path, pipeline, calls):
    watcher, clock, _ = make(tmp_path, pipeline)
    png(tmp_path / "in" / "a.png", 1)
    settle_and_take(watcher, clock)
    before = (tmp_path / "out" / "a.png").stat().st_mtime_ns
    png(tmp_path / "in" / "b.png", 2)  # arrives while no watcher runs
    again, clock2, lines = make(tmp_path, pipeline)  # a restart: nothing remembered
    assert settle_and_take(again, clock2) == [tmp_path / "in" / "b.png"]
    assert (tmp_path / "out" / "a.png").stat().st_mtime_ns == before  # never restored again, never replaced
    assert [c[0].name for c in calls] == ["a.png", "b.png"] and len(lines) == 1


def test_an_existing_output_is_never_replaced(tmp_path, pipeline, calls):
    watcher, clock, _ = make(tmp_path, pipeline)
    png(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"the user's own file")
    assert settle_and_take(watcher, clock) == [] and calls == []
    assert (tmp_path / "out" / "a.png").read_bytes() == b"the user's own file"


def test_a_bad_file_is_reported_once_and_tried_again_when_it_changes(tmp_path, pipeline, calls):
    watcher, clock, lines = make(tmp_path, pipeline)
    bad = tmp_path / "in" / "bad.tif"
    bad.write_bytes(b"not a TIFF at all")
    png(tmp_path / "in" / "good.png")
    settle_and_take(watcher, clock)
    for _ in range(3):
        clock.now += 10
        assert settle_and_take(watcher, clock) == []
    failed = [line for line in lines if "failed:" in line]
    assert len(failed) == 1 and "bad.tif" in failed[0] and watcher.tally.counts == {"restored": 1, "failed": 1}
    Image.fromarray(gray(3)).save(bad, format="TIFF")  # the user puts a good file under the same name
    assert settle_and_take(watcher, clock) == [bad]
    assert (tmp_path / "out" / "bad.tif").is_file() and len([c for c in calls if c[0] == bad]) == 2


def test_remembered_failures_are_bounded(tmp_path, pipeline, monkeypatch):
    monkeypatch.setattr(watch_module, "REMEMBERED", 3)
    watcher, clock, lines = make(tmp_path, pipeline)
    for i in range(6):
        (tmp_path / "in" / f"bad{i}.png").write_bytes(b"junk")
    settle_and_take(watcher, clock)
    assert len(watcher.passed) == 3 and watcher.tally.counts["failed"] == 6
    assert len(watcher.tally.summary()) == 1 + 6  # the counts, then each failure again (up to 20 of them)
    clock.now += 10
    assert len(settle_and_take(watcher, clock)) == 3  # the three forgotten ones are tried (and reported) again
    assert watcher.tally.counts["failed"] == 9 and len(watcher.passed) == 3


def test_a_file_changed_while_restored_loses_its_output_and_is_taken_again(tmp_path, pipeline, monkeypatch):
    watcher, clock, lines = make(tmp_path, pipeline)
    source = png(tmp_path / "in" / "a.png")
    real = FramePipeline.restore_file

    def grows(self, job, overwrite=False):  # the writer was only pausing
        result = real(self, job, overwrite)
        with open(job.source, "ab") as f:
            f.write(b"\0" * 10)
        return result

    monkeypatch.setattr(FramePipeline, "restore_file", grows)
    settle_and_take(watcher, clock)
    assert not (tmp_path / "out" / "a.png").exists() and "changed while it was read" in lines[-1]
    monkeypatch.setattr(FramePipeline, "restore_file", real)
    assert settle_and_take(watcher, clock) == [source] and (tmp_path / "out" / "a.png").is_file()


def test_recursive_keeps_sub_folders_and_never_scans_its_own_output(tmp_path, pipeline):
    (tmp_path / "in").mkdir()
    watcher = Watcher(WatchPlan(tmp_path / "in", tmp_path / "in" / "restored", recursive=True, suffix="_r",
                                fmt="tif"), pipeline, settle=0, poll=0.01, echo=lambda _: None, clock=Clock())
    png(tmp_path / "in" / "day1" / "a.png")
    png(tmp_path / "in" / "b.png")
    watcher.scan()
    for path in watcher.scan():
        watcher.take(path)
    assert sorted(str(p.relative_to(tmp_path / "in")) for p in (tmp_path / "in").rglob("*.tif")) == [
        "restored/b_r.tif", "restored/day1/a_r.tif"]
    watcher.scan()
    assert watcher.scan() == [] and watcher.pending == {}


@pytest.mark.parametrize("suffix, fmt", [("", "same"), ("_r", "tif"), (".x", "png")])
def test_output_names_are_deblurs(tmp_path, suffix, fmt):
    plan = WatchPlan(tmp_path, tmp_path / "out", suffix=suffix, fmt=fmt)
    for name in ("a.png", "b.c.TIF", "no suffix.jpeg"):
        assert plan.output_name(name) == plan_jobs([(tmp_path / name, tmp_path)], plan.outdir, suffix, fmt)[0].output.name


def test_two_watchers_on_one_folder_restore_each_file_once(tmp_path, pipeline, calls):
    (tmp_path / "in").mkdir()
    logs: list[list[str]] = [[], []]
    watchers = [Watcher(WatchPlan(tmp_path / "in", tmp_path / "out"), pipeline, settle=0.2, poll=0.02,
                        echo=log.append) for log in logs]
    names = [f"m{i:02d}.png" for i in range(16)]
    for i, name in enumerate(names):
        png(tmp_path / "in" / name, i)
    with running(*watchers):
        wait_for(lambda: all((tmp_path / "out" / n).exists() for n in names))
        time.sleep(0.3)  # a few more polls: nothing may be taken again
    assert sorted(c[0].name for c in calls) == names  # each once, by one of them
    assert len(logs[0]) + len(logs[1]) == 16 and not any("skipped" in line for log in logs for line in log)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names + [CLAIMS])
    assert list((tmp_path / "out" / CLAIMS).iterdir()) == []  # claims are removed when released


@pytest.mark.skipif(os.name != "posix", reason="kills a process holding an flock")
def test_a_claim_is_released_when_its_process_dies(tmp_path):
    lock = tmp_path / "c.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with claim(lock) as held:
            assert not held
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with claim(lock) as held:
            assert held
        assert not lock.exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_claim_on_a_file_removed_meanwhile_is_not_held(tmp_path):
    """A process that opened the lock file just before its holder released (and removed) it gets the lock on
    a file that no longer has the name: it must stand back."""
    lock = tmp_path / "c.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        assert watch_module._same_file(fd, lock)
        os.unlink(lock)
        assert not watch_module._same_file(fd, lock)
        lock.write_text("")  # a third process made a new one
        assert not watch_module._same_file(fd, lock)
    finally:
        os.close(fd)


def test_the_plan_refuses_its_own_folder_as_output(tmp_path):
    from midnet.errors import MidnetError

    with pytest.raises(MidnetError, match="output folder is the watched folder"):
        WatchPlan(tmp_path, tmp_path / ".").check()
    with pytest.raises(MidnetError, match="not a folder"):
        WatchPlan(tmp_path / "missing", tmp_path / "out").check()


@contextmanager
def running(*watchers: Watcher):
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in watchers]
    for t in threads:
        t.start()
    try:
        yield stop
    finally:
        stop.set()
        for t in threads:
            t.join(30)


def wait_for(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)
