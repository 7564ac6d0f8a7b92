"""run_batch and the writes under it: odd names, midnet's own outputs, concurrent runs, write errors.

Small generated PNGs and an identity or inverting "restorer": no network runs here.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from midnet.images import io as mio
from midnet.images import publish
from midnet.images.batch import collect_inputs, dry_run_lines, plan_jobs, run_batch
from midnet.errors import MidnetError
from midnet.images.io import write_image
from midnet.images.publish import atomic_write

REPO = Path(__file__).resolve().parents[2]


def png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 32), dtype=np.uint8)).save(path)
    return path


def invert(frame: np.ndarray) -> np.ndarray:
    return 255 - frame


def write_compare(before: np.ndarray, after: np.ndarray, path: Path) -> None:
    write_image(path, np.hstack([before, after]), fmt="png")


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def batch(inputs, outdir: Path, restore=invert, **kwargs):
    plan = {k: kwargs.pop(k) for k in ("suffix", "compare") if k in kwargs}
    return run_batch(plan_jobs(collect_inputs([str(i) for i in inputs]), outdir, **plan), restore, **kwargs)


# ---------------------------------------------------------------- 6: odd names stay on one line


def test_a_newline_in_a_name_stays_inside_one_quoted_line(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "bad\nname.png").write_text("not a PNG")
    (src / "plain.png").write_text("not a PNG either")
    png(src / "good\tname.png")
    report = batch([src], out)
    assert [p.name for p in report.restored] == ["good\tname.png"]
    odd, plain = sorted(why for _, why in report.failed)
    assert "\n" not in odd and repr(str(src / "bad\nname.png")) in odd
    assert plain.startswith(f"{src / 'plain.png'}: ")  # an ordinary name is not quoted
    (skipped,) = [why for _, why in batch([src], out).skipped]
    assert "\t" not in skipped and repr(str(out / "good\tname.png")) in skipped
    lines = dry_run_lines(plan_jobs(collect_inputs([str(src)]), out), overwrite=False)
    assert len(lines) == 3 and not any(ch in line for line in lines for ch in "\n\t")


# ---------------------------------------------------------------- 7: midnet's own outputs beside the inputs


def test_a_second_run_into_the_input_folder_skips_midnets_own_outputs(tmp_path):
    d = tmp_path / "d"
    png(d / "a.png")
    png(d / "b.png", seed=1)
    first = batch([d], d, suffix="_r", compare=True, compare_writer=write_compare)
    assert len(first.restored) == 2 and not first.failed
    files = sorted(os.listdir(d))
    assert files == ["a.png", "a_r.png", "a_r_compare.png", "b.png", "b_r.png", "b_r_compare.png"]

    again = batch([d], d, suffix="_r")  # without --compare: its pictures are still recognised
    assert again.failed == [] and again.restored == [] and len(again.skipped) == 6
    reasons = dict((p.name, why) for p, why in again.skipped)
    assert "midnet's output of" in reasons["a_r.png"] and str(d / "a.png") in reasons["a_r.png"]
    assert "--compare picture of" in reasons["a_r_compare.png"]
    assert "exists" in reasons["a.png"]
    assert sorted(os.listdir(d)) == files

    forced = batch([d], d, suffix="_r", overwrite=True)
    assert forced.failed == [] and sorted(p.name for p in forced.restored) == ["a.png", "b.png"]
    assert sorted(os.listdir(d)) == files  # a_r.png replaced, no a_r_r.png


# ---------------------------------------------------------------- 8: concurrent runs never replace


def test_an_output_written_meanwhile_by_another_run_is_kept(tmp_path):
    src, out = png(tmp_path / "in" / "a.png"), tmp_path / "out"

    def another_run_writes_first(frame):
        out.mkdir(exist_ok=True)
        (out / "a.png").write_bytes(b"the other run's output")
        return invert(frame)

    report = batch([src], out, another_run_writes_first, compare=True, compare_writer=write_compare)
    assert report.restored == [] and report.failed == []
    (why,) = [why for _, why in report.skipped]
    assert "written meanwhile by another run" in why and str(out / "a.png") in why
    assert sorted(os.listdir(out)) == ["a.png"] and (out / "a.png").read_bytes() == b"the other run's output"

    (out / "a.png").unlink()
    forced = batch([src], out, another_run_writes_first, overwrite=True)
    assert forced.restored == [src]
    assert Image.open(out / "a.png").format == "PNG" and temporaries(out) == []


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_no_replace_write_never_replaces(tmp_path, monkeypatch, hard_links):
    if not hard_links:  # a file system without them (FAT, some network mounts)
        def no_link(src, dst, *args, **kwargs):
            raise PermissionError(errno.EPERM, "Operation not permitted", src)

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "x.bin"
    with atomic_write(target, replace=False) as tmp:
        Path(tmp).write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(publish.OutputExists) as info:
        with atomic_write(target, replace=False) as tmp:
            Path(tmp).write_bytes(b"second")
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["x.bin"]
    with atomic_write(target) as tmp:  # the default replaces, as model and checkpoint saving expect
        Path(tmp).write_bytes(b"third")
    assert target.read_bytes() == b"third" and os.listdir(tmp_path) == ["x.bin"]


# ---------------------------------------------------------------- 9: write errors and temporaries


def test_a_write_error_names_the_output_never_the_temporary(tmp_path):
    out = tmp_path / "f.png"
    with pytest.raises(MidnetError) as info:
        write_image(out, np.zeros((4, 4), np.float32))  # no PNG holds float pixels
    assert str(info.value).startswith(f"{out}: ") and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("writer, error", [
    ("_write_pil", lambda tmp: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)),
    ("_write_tiff", lambda tmp: OSError("1310720 requested and 73584 written")),  # numpy's short write
])
def test_a_full_disk_is_said_plainly(tmp_path, monkeypatch, writer, error):
    def fill_the_disk(tmp, *args):
        Path(tmp).write_bytes(b"half a file")
        raise error(tmp)

    monkeypatch.setattr(mio, writer, fill_the_disk)
    out = tmp_path / ("a.tif" if writer == "_write_tiff" else "a.png")
    with pytest.raises(MidnetError) as info:
        write_image(out, np.zeros((4, 4), np.uint8))
    message = str(info.value)
    assert message.startswith(f"no space left on device writing {out}") and "\n" not in message
    assert "requested" not in message and ".tmp" not in message
    assert os.listdir(tmp_path) == []


def test_temporary_names_hold_pid_and_host(tmp_path):
    with atomic_write(tmp_path / "a.png") as tmp:
        name = Path(tmp).name
        assert Path(tmp).parent == tmp_path and name.startswith(".a.png.") and name.endswith(".tmp")
        assert publish.temporary_owner(name) == (os.getpid(), publish.HOST)


def test_stale_temporaries_are_removed_on_the_next_batch_never_a_live_ones(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    die_while_writing = ("import os, sys; from pathlib import Path; from midnet.images.publish import atomic_write; "
                         "writing = atomic_write(Path(sys.argv[1])); writing.__enter__(); os._exit(0)")
    subprocess.run([sys.executable, "-c", die_while_writing, str(out / "a.png")], check=True, cwd=REPO)
    (dead,) = temporaries(out)
    assert publish.temporary_owner(dead)[0] != os.getpid()
    elsewhere = dead.replace(f".{publish.HOST}.", ".another-host.")
    (out / elsewhere).write_bytes(b"a run on another machine sharing this folder")
    (out / ".notes.tmp").write_text("not midnet's")
    src = png(tmp_path / "in" / "b.png")
    with atomic_write(out / "c.png") as live:  # this process is alive: its temporary stays
        report = batch([src], out)
        assert report.restored == [src]
        assert sorted(os.listdir(out)) == sorted([elsewhere, ".notes.tmp", Path(live).name, "b.png"])
    assert [p.name for p in report.cleaned] == [dead]


def test_an_unwritable_output_folder_fails_before_restoring(tmp_path):
    src = png(tmp_path / "in" / "a.png")
    (tmp_path / "out").write_text("a file where the output folder should be")
    calls = []
    report = batch([src], tmp_path / "out" / "day1", lambda f: calls.append(f) or f)
    assert calls == [] and report.restored == []
    (why,) = [why for _, why in report.failed]
    assert why.startswith(f"{src}: ") and str(tmp_path / "out" / "day1" / "a.png") in why
    assert "not a folder" in why and "\n" not in why


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions that bind (not root)")
def test_a_read_only_output_folder_fails_before_restoring(tmp_path):
    src = png(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir(mode=0o555)
    calls = []
    try:
        report = batch([src], tmp_path / "out" / "sub", lambda f: calls.append(f) or f)
    finally:
        (tmp_path / "out").chmod(0o755)
    assert calls == [] and "not writable" in report.failed[0][1]


def test_the_batch_goes_on_past_bad_files_and_reports_them_all(tmp_path):
    src = tmp_path / "in"
    png(src / "a.png")
    (src / "b.png").write_bytes(b"")
    png(src / "c.png", seed=1)
    (src / "d.png").write_text("text")
    report = batch([src], tmp_path / "out")
    assert [p.name for p in report.restored] == ["a.png", "c.png"]
    assert [p.name for p, _ in report.failed] == ["b.png", "d.png"]
    assert report.summary() == "2 restored, 0 skipped, 2 failed"


def test_an_existing_side_output_is_never_replaced_without_overwrite(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((32, 32), 100, np.uint8)).save(src / "a.png")
    jobs = plan_jobs([(src / "a.png", src)], tmp_path / "out", uncertainty=True)
    jobs[0].uncertainty.parent.mkdir(parents=True)
    jobs[0].uncertainty.write_bytes(b"an earlier map")
    report = run_batch(jobs, lambda frame: (frame, np.zeros(frame.shape, np.float32)))
    assert report.skipped and "uncertainty" in report.skipped[0][1] and not jobs[0].output.exists()
    assert jobs[0].uncertainty.read_bytes() == b"an earlier map"
