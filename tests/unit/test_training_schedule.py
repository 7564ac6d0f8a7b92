"""The one learning-rate schedule of training and fine-tuning (midnet/training/schedule.py)."""

import math

import pytest
import torch

from midnet.training.schedule import CosineSchedule, cosine


def _optimizer(lr=1e-3):
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def test_cosine_runs_from_lr_to_lr_min_and_stays_there():
    assert cosine(0, 10, 1e-3, 1e-6) == pytest.approx(1e-3)
    assert cosine(5, 10, 1e-3, 1e-6) == pytest.approx((1e-3 + 1e-6) / 2)
    assert cosine(10, 10, 1e-3, 1e-6) == pytest.approx(1e-6) == cosine(25, 10, 1e-3, 1e-6)


def test_the_schedule_follows_the_cosine_as_torch_s_cosine_annealing_did():
    ours_opt, theirs_opt = _optimizer(), _optimizer()
    ours = CosineSchedule(ours_opt, total=20, lr_min=1e-7)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(theirs_opt, T_max=20, eta_min=1e-7)
    for step in range(1, 21):
        ours_opt.step(), theirs_opt.step()
        ours.step(), theirs.step()
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-9, abs=1e-15)
        assert ours_opt.param_groups[0]["lr"] == cosine(step, 20, 1e-3, 1e-7)


def test_a_checkpoint_of_the_former_cosine_annealing_resumes_on_the_schedule():
    """Runs checkpointed before the schedule was midnet's own continue with --resume."""
    old_opt = _optimizer()
    old = torch.optim.lr_scheduler.CosineAnnealingLR(old_opt, T_max=10, eta_min=0.0)
    for _ in range(4):
        old_opt.step(), old.step()
    new_opt = _optimizer()
    new_opt.load_state_dict(old_opt.state_dict())
    schedule = CosineSchedule(new_opt, total=10, lr_min=0.0)
    schedule.load_state_dict(old.state_dict())
    new_opt.step(), schedule.step()
    assert schedule.last_epoch == 5 and new_opt.param_groups[0]["lr"] == pytest.approx(cosine(5, 10, 1e-3, 0.0))


def test_a_shorter_total_set_mid_run_ends_the_cosine_there():
    """Fine-tuning sets the length once it knows the step time: the rate reaches lr_min when the budget ends."""
    opt = _optimizer()
    schedule = CosineSchedule(opt, total=1000, lr_min=0.0)
    for _ in range(3):
        opt.step(), schedule.step()
    schedule.total = 10
    for _ in range(7):
        opt.step(), schedule.step()
    assert opt.param_groups[0]["lr"] == 0.0 and not math.isnan(schedule.get_last_lr()[0])
