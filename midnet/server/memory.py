"""Giving freed memory back to the system, so that a server's peak memory does not grow with the files it scored.

glibc's malloc keeps what a thread frees in that thread's arena, for its next allocation, and
raises its mmap threshold after the first large free, so that frames and tiles of up to
32 MiB come from the arenas rather than from mmap. Each upload is decoded and scored on one
of the intake threads (midnet/server/intake.py), each with an arena of its own: the arrays
it frees stay resident there, fragmented, beside the worker's. So every upload scored while
restorations run left the server a little larger, and its peak grew with the files uploaded,
not with what it held. Measured on the benchmark's load (50 files from 20 clients, RSS sampled
every 0.1 s): the server's resident memory between two restorations stayed at 679 MiB once the
uploads were in, against 340-400 MiB with large arrays from mmap (MALLOC_MMAP_THRESHOLD_),
whose peaks were 491 and 500 MiB at 5 and 50 files against 718 and 748 MiB without.

So the server (a) caps the arenas at two, so that the intake threads and the worker reuse
each other's freed pages instead of each keeping their own, and (b) hands free pages back
(``malloc_trim``) after each upload scored and after each job. Trimming after uploads alone
was not enough (1.15x at 50 files against 5 in one benchmark run). Trimming after each job
costs time: the next job faults its pages in again (50 files of 512x512 took 55 s against
44 s, same machine, same load). Results do not change: only where freed memory goes.
Elsewhere than glibc, both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2  # the upload threads, the worker and the request threads share two arenas
_lock = threading.Lock()


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _libc()


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX would); call before the server's threads start. Whether it
    took effect."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_ARENA_MAX, count))


def give_back() -> bool:
    """Return the free pages of every arena to the system; whether any was returned. One thread at a time: two
    trims at once would only wait for each other's arena locks."""
    if _LIBC is None:
        return False
    with _lock:
        return bool(_LIBC.malloc_trim(0))
