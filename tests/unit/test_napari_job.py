"""The napari widget's restoration run without a GUI (midnet/napari/_job.py imports neither napari nor Qt)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import midnet
from midnet.inference.settings import RestoreSettings
import midnet.inference.restore
from midnet.errors import MidnetError
from midnet.napari._job import form_settings, frames_of, run
from tests.conftest import smooth_image


def test_cancel_stops_a_tiled_frame_at_the_next_tile():
    image = np.round(smooth_image(160, 160) * 255).astype(np.uint8)
    cancel = threading.Event()
    fractions = []

    def report(fraction):  # runs inside on_tile: the first tile reports, then the user cancels
        fractions.append(fraction)
        cancel.set()

    # engine and precision named: the defaults (auto) would measure the engines first
    outcome = run(image, False, form_settings("midnet-sem", infobar="none", tile=64, engine="torch", precision="fp32"),
                  cancel, report)
    assert outcome.status == "cancelled" and outcome.array is None
    assert outcome.tiles == 2 < outcome.tiles_total  # the tile after the click raised; none ran after it
    assert len(fractions) == 1 and 0 < fractions[0] < 1


def test_a_stack_stops_between_frames_when_no_tile_reports():
    stack = np.stack([np.round(smooth_image(40, 40, seed=s) * 255).astype(np.uint8) for s in range(4)])
    cancel = threading.Event()
    seen = []

    def report(fraction):
        seen.append(fraction)
        cancel.set()  # unsharp reports no tiles: this is the end of frame 1 of 4

    outcome = run(stack, False, form_settings("unsharp", infobar="none"), cancel, report)
    assert outcome.status == "cancelled" and seen == [0.25]


def test_a_finished_run_equals_deblur_frame_by_frame():
    stack = np.stack([np.round(smooth_image(40, 48, seed=s) * 60000).astype(np.uint16) for s in range(2)])
    outcome = run(stack, False, form_settings("wiener", infobar="none"), threading.Event())
    assert outcome.status == "done"
    expected = np.stack([midnet.deblur(f, method="wiener", infobar="none") for f in stack])
    np.testing.assert_array_equal(outcome.array, expected)


def test_a_finished_run_carries_what_ran_not_what_was_asked(monkeypatch):
    from midnet.inference import engine_choice

    # what engine="auto" would pick here, without measuring (seconds on a busy machine)
    monkeypatch.setattr(engine_choice, "choose_engine", lambda net, precision: engine_choice.Choice(
        "torch", "fp32", measured=False))
    image = np.round(smooth_image(32, 40) * 255).astype(np.uint8)
    outcome = run(image, False, form_settings("midnet-sem", infobar="none"), threading.Event())
    assert form_settings("midnet-sem") == RestoreSettings()  # `midnet deblur`'s defaults: engine and precision auto
    assert outcome.status == "done"
    assert (outcome.provenance["engine"], outcome.provenance["precision"]) == ("torch", "fp32")
    assert outcome.provenance == midnet.inference.restore.make_restorer(RestoreSettings.exact(model="midnet-sem")).provenance


def test_a_classical_run_carries_its_method_and_parameters():
    outcome = run(np.zeros((24, 24), np.uint8), False, form_settings("unsharp", infobar="none"), threading.Event())
    assert outcome.provenance["method"] == "unsharp" and "params" in outcome.provenance


def test_a_missing_weights_file_ends_in_one_line(tmp_path):
    outcome = run(np.zeros((32, 32), np.uint8), False, form_settings(str(tmp_path / "nope.safetensors")), threading.Event())
    assert outcome.status == "error" and "nope.safetensors" in outcome.message and "\n" not in outcome.message


@pytest.mark.parametrize("shape, rgb, expected", [((20, 30), False, (1, False)), ((20, 30, 3), True, (1, False)),
                                                  ((5, 20, 30), False, (5, True)), ((5, 20, 30, 3), True, (5, True))])
def test_frames_of_layer_shapes(shape, rgb, expected):
    assert frames_of(np.zeros(shape), rgb) == expected


@pytest.mark.parametrize("shape, rgb", [((2, 3, 20, 30), False), ((30,), False), ((2, 3, 20, 30, 3), True)])
def test_frames_of_refuses_other_shapes(shape, rgb):
    with pytest.raises(MidnetError, match="cannot be restored"):
        frames_of(np.zeros(shape), rgb)
