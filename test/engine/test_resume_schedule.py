"""A resumed run follows the configured learning-rate steps, not the ones saved in the checkpoint: resuming from
epoch 8 of a 10-epoch run with a 12-epoch config continues exactly as a fresh 12-epoch run would (how the shipped
model's schedule was extended without training from scratch again)."""
import pytest
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.engine.trainer import build_optimizer, build_scheduler, follow_configured_schedule


def _run(steps, epochs):
    cfg = PanopticConfig()
    cfg.solver.lr, cfg.solver.lr_gamma, cfg.solver.lr_steps = 1e-3, 0.1, list(steps)
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    for _ in range(epochs):
        optimizer.step()
        scheduler.step()
    return cfg, model, optimizer, scheduler


@pytest.mark.parametrize("resumed_at,expected", [(8, 1e-3), (10, 1e-4), (11, 1e-5)])
def test_resume_takes_the_configured_steps(resumed_at, expected):
    _, _, old_opt, old_sched = _run([8, 9], resumed_at)          # the checkpointed run: steps at 8 and 9
    longer, model, optimizer, scheduler = _run([10, 11], 0)     # the config it is resumed with
    optimizer.load_state_dict(old_opt.state_dict())
    scheduler.load_state_dict(old_sched.state_dict())
    follow_configured_schedule(scheduler, optimizer, longer)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    _, _, fresh_opt, fresh_sched = _run([10, 11], resumed_at)   # a fresh run of the longer config
    for _ in range(12 - resumed_at):
        optimizer.step(), scheduler.step(), fresh_opt.step(), fresh_sched.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(fresh_opt.param_groups[0]["lr"])
