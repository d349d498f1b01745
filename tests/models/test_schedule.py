"""The budget schedule: warm-up, a cosine that ends with the budget, in steps or in time."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Timer

from distill.models.schedule import BudgetSchedule, budget_progress, configure_optimization


def _optimizer(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_warm_up_then_cosine_to_the_final_factor():
    optimizer = _optimizer()
    schedule = BudgetSchedule(optimizer, warmup_steps=4, final_factor=0.1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 4)  # first warm-up step
    progress = {"share": 0.0}
    schedule.progress = lambda: progress["share"]
    rates = []
    for _ in range(3):
        optimizer.step()
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([2e-4 * 2.5, 7.5e-4, 1e-3])  # warm-up ends at the full rate
    progress["share"] = 0.5
    schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    progress["share"] = 1.0
    schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    progress["share"] = 3.0  # past the budget (a resumed run): stays at the floor
    schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_state_dict_saves_the_step_not_the_trainer_reader(tmp_path):
    optimizer = _optimizer()
    schedule = BudgetSchedule(optimizer, warmup_steps=2)
    schedule.progress = lambda: 0.25
    optimizer.step()
    schedule.step()
    torch.save(schedule.state_dict(), tmp_path / "schedule.pt")  # a closure would not pickle
    restored = BudgetSchedule(_optimizer(), warmup_steps=2)
    restored.load_state_dict(torch.load(tmp_path / "schedule.pt"))
    assert restored.last_epoch == schedule.last_epoch and restored.progress() == 0.0


@pytest.mark.parametrize(("warmup_steps", "final_factor"), [(-1, 0.05), (0, 1.5), (0, -0.1)])
def test_bad_settings_are_refused(warmup_steps, final_factor):
    with pytest.raises(ValueError, match="warmup_steps"):
        BudgetSchedule(_optimizer(), warmup_steps=warmup_steps, final_factor=final_factor)


class _Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.rates: list[float] = []

    def training_step(self, batch, batch_idx):
        self.rates.append(self.optimizers().param_groups[0]["lr"])
        return (self.weight * batch[0]).sum() ** 2

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(8, 1)), batch_size=1)

    def configure_optimizers(self):
        return configure_optimization(
            self,
            lambda params: torch.optim.SGD(params, lr=0.1),
            lambda optimizer: BudgetSchedule(optimizer, final_factor=0.0),
            interval="epoch",  # a budget schedule steps every step whatever the module's interval
            name="lr/tiny",
        )


def _trainer(tmp_path, **kwargs) -> L.Trainer:
    return L.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_a_step_budget_decays_to_the_floor_by_the_last_step(tmp_path):
    module = _Tiny()
    _trainer(tmp_path, max_epochs=2).fit(module)  # 16 steps
    assert module.rates[0] == pytest.approx(0.1)
    assert module.rates == sorted(module.rates, reverse=True)
    assert module.rates[-1] < 0.1 * 0.02  # cosine at step 15 of 16


def test_a_time_budget_counts_when_it_is_spent_first(tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1000, max_time="00:00:00:05")
    timer = next(callback for callback in trainer.callbacks if isinstance(callback, Timer))
    timer.time_elapsed = lambda stage="train": 3.0  # 3 of 5 s spent, but 0 of 8000 steps
    timer.time_remaining = lambda stage="train": 2.0
    assert budget_progress(trainer) == pytest.approx(0.6)


@pytest.mark.parametrize("scheduled", [True, False])
def test_the_learning_rate_is_logged_under_the_modules_name(tmp_path, scheduled):
    """lr/<name> with or without a scheduler, never the optimizer class's lr-SGD."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    class Named(_Tiny):
        def configure_optimizers(self):
            schedule = (lambda optimizer: BudgetSchedule(optimizer)) if scheduled else None
            return configure_optimization(
                self,
                lambda params: torch.optim.SGD(params, lr=0.1),
                schedule,
                interval="step",
                name="lr/tiny",
            )

    monitor = LearningRateMonitor(logging_interval="step")
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        logger=L.pytorch.loggers.CSVLogger(tmp_path),
        callbacks=[monitor],
        max_epochs=1,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = Named()
    trainer.fit(module)
    assert list(monitor.lrs) == ["lr/tiny"]
    assert monitor.lrs["lr/tiny"][0] == pytest.approx(0.1)
    assert module.rates[-1] == pytest.approx(0.1) or scheduled  # no scheduler: the rate stays put
