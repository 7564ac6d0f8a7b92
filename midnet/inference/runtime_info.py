"""What this process runs on: midnet's and other packages' versions, and the CPU as Linux describes it.

One owner for each, read without importing the packages they describe (onnx and onnxscript
take seconds to import, and a warm cache never needs them) and without importing midnet
itself (the core reading the package's ``__init__`` would make an import cycle).
"""

from __future__ import annotations

import functools
import platform
import sys
from importlib import metadata
from pathlib import Path

UNKNOWN_RELEASE = "0.0.0+unknown"  # a source tree without installation


def midnet_version() -> str:
    """midnet's installed version."""
    return package_version("midnet") or UNKNOWN_RELEASE


def package_version(name: str) -> str | None:
    """An installed package's version; None when it is not installed.

    An imported module's ``__version__`` wins over the installed metadata: it is what runs.
    """
    module = sys.modules.get(name)
    found = getattr(module, "__version__", None)
    if isinstance(found, str):
        return found
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def _cpuinfo_first_processor() -> dict[str, str]:
    """The fields of the first processor in /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # every processor repeats the first one's model and flags
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them; empty elsewhere."""
    return frozenset(_cpuinfo_first_processor().get("flags", "").split())


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module says."""
    return _cpuinfo_first_processor().get("model name") or platform.processor() or platform.machine()
