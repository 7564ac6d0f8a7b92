"""Versions and the CPU's description each have one owner (midnet/inference/runtime_info.py) that everything reads."""

import re
import sys
from pathlib import Path

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.inference import engine_choice, precision, runtime_info
from midnet.inference.restore import make_restorer

SOURCE = Path(midnet.__file__).parent


def test_only_runtime_info_reads_versions_and_cpuinfo():
    readers = re.compile(r"open\(\s*['\"]/proc/cpuinfo|Path\(\s*['\"]/proc/cpuinfo|importlib\.metadata|from importlib import metadata")
    owners = sorted(str(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py") if readers.search(p.read_text("utf-8")))
    assert owners == ["inference/runtime_info.py"]
    assert precision.cpu_flags is runtime_info.cpu_flags and engine_choice.cpu_flags is runtime_info.cpu_flags


def test_every_place_that_records_midnets_version_records_the_same(monkeypatch):
    assert midnet.__version__ == runtime_info.midnet_version()
    assert make_restorer(RestoreSettings(method="unsharp")).provenance["midnet"] == midnet.__version__
    monkeypatch.setattr(runtime_info, "package_version", lambda name: None)  # a source tree without installation
    assert make_restorer(RestoreSettings(method="unsharp")).provenance["midnet"] == runtime_info.UNKNOWN_RELEASE


def test_package_version_prefers_what_runs_and_says_none_for_what_is_missing(monkeypatch):
    assert runtime_info.package_version("surely-no-such-package-here") is None
    monkeypatch.setitem(sys.modules, "fake_pkg_for_midnet", type(sys)("fake_pkg_for_midnet"))
    sys.modules["fake_pkg_for_midnet"].__version__ = "1.2.3"
    assert runtime_info.package_version("fake_pkg_for_midnet") == "1.2.3"
    assert runtime_info.cpu_model()  # a model name on Linux, the platform's word elsewhere
