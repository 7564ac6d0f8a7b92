"""The server hands freed memory back after every upload scored and every job (midnet/server/memory.py): without
it glibc keeps the freed frames in its arenas and the peak grows with the files handled."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from midnet.server import memory

from .conftest import micrograph, new_client, serve, tiff_bytes, upload, wait_finished


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim and mallopt are glibc's")
def test_glibc_gives_freed_memory_back():
    big = [np.ones(2**20) for _ in range(16)]  # 128 MiB in 8 MiB arrays, freed
    del big
    assert isinstance(memory.give_back(), bool)
    assert memory.limit_arenas() is True


def test_memory_is_given_back_after_each_upload_and_each_job(tmp_path, wiener, monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "give_back", lambda: calls.append(1) or True)
    with serve(tmp_path / "data", wiener) as c:
        me = new_client(c)
        jobs = [upload(c, me, f"m{i}.tif", tiff_bytes(micrograph(96, seed=i)))["id"] for i in range(2)]
        assert len(calls) >= 2  # one per upload, as soon as it is scored
        for job in jobs:
            assert wait_finished(c, job)["state"] == "done"
    assert len(calls) >= 4  # and one per job restored
