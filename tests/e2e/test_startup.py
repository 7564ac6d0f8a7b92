"""The first minute: commands that only parse arguments answer without loading the numeric stack.

torch takes ~5 s and scikit-image ~3 s to import on 2 cores; before the CLI imported lazily,
`midnet --help` took 8-12 s. Each case runs in a fresh interpreter, as a user's shell does, and
asks that interpreter which heavy modules were loaded by the time the command had answered.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "skimage", "scipy")

# runs the CLI as the `midnet` script does, then reports sys.modules on the way out
PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy}))))
from midnet.cli import main
sys.argv = ["midnet", *{argv}]
main()
"""


def _loaded_after(argv: list[str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    code = PROBE.format(heavy=set(HEAVY), argv=argv)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("MODULES="))
    return done, json.loads(line[len("MODULES="):])


@pytest.mark.parametrize("argv, exit_code, shown", [
    (["--help"], 0, "Usage: midnet"),
    (["--version"], 0, "midnet, version"),
    (["--mistyped-option"], 2, "No such option"),
    (["deblur", "--help"], 0, "--engine"),
    (["dbelur"], 2, "No such command"),
])
def test_parsing_alone_loads_no_numeric_stack(argv, exit_code, shown):
    done, heavy = _loaded_after(argv)
    assert done.returncode == exit_code, done.stderr
    assert shown in done.stdout + done.stderr
    assert heavy == [], f"midnet {' '.join(argv)} loaded {heavy} before answering"


def test_the_probe_sees_a_command_that_does_load_torch():
    """The probe can fail: `midnet models` builds networks, so torch must show up."""
    done, heavy = _loaded_after(["models", "--json"])
    assert done.returncode == 0, done.stderr
    assert "torch" in heavy
