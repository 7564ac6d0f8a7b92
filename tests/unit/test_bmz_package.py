"""Loading a BioImage Model Zoo package in midnet: only the .safetensors attachment, only packages midnet made.

The packages here are written by hand with zipfile and yaml, exactly as the contract in
midnet/models/weights.py reads them (rdf.yaml with ``config.midnet``: format, attachment name,
its SHA-256), so these tests need neither bioimageio.spec nor an exporter; the real
export is checked end to end in tests/integration/test_bmz.py.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

import midnet
from midnet.inference.settings import EXACT
from midnet import MidnetError, create_model
from midnet.models import weights as weights_module
from midnet.cli import cli
from midnet.models.weights import PACKAGE_FORMAT, read_metadata, save_model
from midnet.models.zoo import load_model

from ..conftest import smooth_image


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory) -> Path:
    net = create_model("midnet-s", width=8, enc_blk_nums=(1, 1), dec_blk_nums=(1, 1))
    with torch.no_grad():  # non-trivial weights: a load that dropped any tensor would change the output
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return save_model(net, tmp_path_factory.mktemp("w") / "small.safetensors", {"midnet.note": "packaged"})


def write_package(path: Path, weights: Path | None, midnet_section: dict | None = "default",
                  extra: dict[str, bytes] | None = None) -> Path:
    data = weights.read_bytes() if weights else b""
    if midnet_section == "default":
        midnet_section = {"format": PACKAGE_FORMAT, "weights": "small.safetensors",
                          "weights_sha256": hashlib.sha256(data).hexdigest()}
    rdf = {"type": "model", "format_version": "0.5.12", "name": "x",
           "weights": {"onnx": {"source": "weights.onnx"}}, "config": {}}
    if midnet_section is not None:
        rdf["config"]["midnet"] = midnet_section
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("rdf.yaml", yaml.safe_dump(rdf))
        if weights:
            z.writestr("small.safetensors", data)
        z.writestr("weights.onnx", b"never read by midnet")
        for name, content in (extra or {}).items():
            z.writestr(name, content)
    return path


def test_package_loads_the_attached_weights_exactly(tmp_path, small_weights):
    package = write_package(tmp_path / "pkg.zip", small_weights)
    from_file, from_package = load_model(small_weights), load_model(package)
    a, b = from_file.state_dict(), from_package.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert from_package.config == from_file.config
    assert read_metadata(package)["midnet.note"] == "packaged"  # metadata (trained_on, domain...) travels too


def test_deblur_runs_a_package_like_its_weights_file(tmp_path, small_weights):
    package = write_package(tmp_path / "pkg.zip", small_weights)
    image = (smooth_image(48, 64) * 255).astype(np.uint8)
    expected = midnet.deblur(image, model=str(small_weights), infobar="none", **EXACT)
    assert np.array_equal(midnet.deblur(image, model=str(package), infobar="none", **EXACT), expected)
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "in.png")
    outputs = []
    for i, model in enumerate((small_weights, package)):  # the command line: the same image from either file
        result = CliRunner().invoke(cli, ["deblur", str(tmp_path / "in.png"), "-o", str(tmp_path / f"out{i}"),
                                          "--model", str(model), "--infobar", "none", "--engine", "torch"])
        assert result.exit_code == 0, result.output
        (written,) = (tmp_path / f"out{i}").iterdir()
        outputs.append(np.asarray(Image.open(written)))
    assert np.array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("case", ["no_midnet_section", "other_format", "no_rdf"])
def test_foreign_packages_are_refused_in_one_line(tmp_path, small_weights, case):
    section = {"no_midnet_section": None, "other_format": {"format": "someone-else/3"}, "no_rdf": "default"}[case]
    package = write_package(tmp_path / "foreign.zip", small_weights, section)
    if case == "no_rdf":
        with zipfile.ZipFile(package, "w") as z:
            z.writestr("model.yaml", "name: x")
    with pytest.raises(MidnetError, match="not a BioImage Model Zoo package exported by midnet") as err:
        load_model(package)
    assert "\n" not in str(err.value) and str(package) in str(err.value)


def test_damaged_and_malformed_packages_are_refused(tmp_path, small_weights):
    not_a_zip = tmp_path / "bad.zip"
    not_a_zip.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MidnetError, match="not a readable midnet BMZ package"):
        load_model(not_a_zip)
    tampered = write_package(tmp_path / "tampered.zip", small_weights,
                             {"format": PACKAGE_FORMAT, "weights": "small.safetensors", "weights_sha256": "0" * 64})
    with pytest.raises(MidnetError, match="does not match the SHA-256"):
        load_model(tampered)
    for name in ("../small.safetensors", "weights.onnx", "model.pt"):  # only a plain .safetensors name
        escaping = write_package(tmp_path / "escaping.zip", small_weights,
                                 {"format": PACKAGE_FORMAT, "weights": name, "weights_sha256": "0" * 64})
        with pytest.raises(MidnetError, match="not a .safetensors file name"):
            load_model(escaping)
    missing = write_package(tmp_path / "missing.zip", None)
    with pytest.raises(MidnetError, match="lacks 'small.safetensors'"):
        load_model(missing)


def patch_central_directory(path: Path, member: str, flags: int = 0, method: int | None = None) -> None:
    """Set ``member``'s flag bits and compression method where zipfile reads them (the central directory).

    zipfile itself writes neither encrypted members nor compression methods it lacks.
    """
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        length = int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 46:pos + 46 + length] == member.encode():
            data[pos + 8:pos + 10] = (int.from_bytes(data[pos + 8:pos + 10], "little") | flags).to_bytes(2, "little")
            if method is not None:
                data[pos + 10:pos + 12] = method.to_bytes(2, "little")
            path.write_bytes(bytes(data))
            return
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{member} not in {path}")


def write_rdf(path: Path, rdf_text: str) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("rdf.yaml", rdf_text)
    return path


@pytest.mark.parametrize("case", ["encrypted", "compression", "config_list", "rdf_list", "midnet_str",
                                  "not_safetensors"])
def test_malformed_packages_say_what_is_wrong_in_one_line(tmp_path, small_weights, case):
    package = tmp_path / "malformed.zip"
    if case in ("encrypted", "compression"):
        write_package(package, small_weights)
        if case == "encrypted":
            patch_central_directory(package, "small.safetensors", flags=0x1)  # zipfile: RuntimeError
        else:
            patch_central_directory(package, "small.safetensors", method=6)  # implode: NotImplementedError
    elif case == "config_list":
        write_rdf(package, "type: model\nconfig: [midnet]\n")  # was AttributeError
    elif case == "rdf_list":
        write_rdf(package, "- type\n- model\n")
    elif case == "midnet_str":
        write_rdf(package, f"config:\n  midnet: {PACKAGE_FORMAT}\n")
    else:  # the recorded hash matches, but the attachment is no safetensors file
        junk = tmp_path / "small.safetensors"
        junk.write_bytes(b"\x10" + b"\x00" * 7 + b"not json, nor tensors")
        write_package(package, junk)
    expected = {"encrypted": "is encrypted", "compression": "uses a compression method", "config_list": "config in its "
                "rdf.yaml is a list", "rdf_list": "rdf.yaml holds a list", "midnet_str": "config.midnet in its rdf.yaml "
                "is a str", "not_safetensors": "small.safetensors is not a readable .safetensors"}[case]
    for read in (load_model, read_metadata):
        with pytest.raises(MidnetError) as err:
            read(package)
        message = str(err.value)
        assert message.startswith(f"not a readable midnet BMZ package: {package}: "), message
        assert expected in message and "\n" not in message
    if case == "config_list":  # the command line prints the one line, not "error: AttributeError: ..."
        from PIL import Image

        Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "in.png")
        result = CliRunner().invoke(cli, ["deblur", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"),
                                          "--model", str(package), "--infobar", "none", "--engine", "torch"])
        assert result.exit_code != 0 and "error: not a readable midnet BMZ package" in result.output, result.output


def test_a_weights_name_with_a_nul_is_refused(tmp_path, small_weights):
    package = write_package(tmp_path / "nul.zip", small_weights,
                            {"format": PACKAGE_FORMAT, "weights": "small\0.safetensors", "weights_sha256": "0" * 64})
    with pytest.raises(MidnetError, match="not a .safetensors file name"):  # was ValueError: embedded null byte
        load_model(package)


def test_oversized_entries_are_refused_before_decompression(tmp_path, small_weights, monkeypatch):
    # a real zip bomb needs GiBs; the limit is lowered instead, and reading is made to fail loudly,
    # so the test shows that the declared size is checked before a single byte is decompressed
    package = write_package(tmp_path / "bomb.zip", small_weights)
    monkeypatch.setattr(weights_module, "PACKAGE_WEIGHTS_LIMIT", small_weights.stat().st_size - 1)
    read = zipfile.ZipFile.read

    def guarded(self, name, pwd=None):
        info_name = name.filename if isinstance(name, zipfile.ZipInfo) else name
        assert info_name.endswith(".yaml"), f"decompressed {info_name} before checking its size"
        return read(self, name, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", guarded)
    with pytest.raises(MidnetError, match="refusing to decompress"):
        load_model(package)
    monkeypatch.setattr(weights_module, "PACKAGE_WEIGHTS_LIMIT", 1 << 30)  # only the rdf.yaml's limit now
    monkeypatch.setattr(weights_module, "PACKAGE_RDF_LIMIT", 10)
    with pytest.raises(MidnetError, match="'rdf.yaml' declares"):
        load_model(package)


def test_export_refuses_bad_requests_before_any_work(tmp_path, small_weights):
    pytest.importorskip("bioimageio.spec")
    from midnet.export.bmz import export_bmz

    with pytest.raises(MidnetError, match="name it NAME.zip"):
        export_bmz(small_weights, tmp_path / "package.bmz")
    with pytest.raises(MidnetError, match="unknown BMZ weight formats"):
        export_bmz(small_weights, tmp_path / "package.zip", formats=("keras_hdf5",))
    with pytest.raises(MidnetError, match="needs a midnet .safetensors weights file"):
        export_bmz(write_package(tmp_path / "p.zip", small_weights), tmp_path / "package.zip")
    assert not (tmp_path / "package.zip").exists()
