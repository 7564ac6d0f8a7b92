"""What several commands print alike: JSON that strict parsers read (``midnet eval --json``, ``midnet score --json``)."""

from __future__ import annotations


def finite(obj):
    """``obj`` with every NaN or infinite float as None: what strict JSON (``allow_nan=False``) can hold."""
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj
