"""The divergence guard: training stops at the first non-finite loss or gradient, and says so.

A learning rate far too high (or a precision too narrow for the activations) sends a run to inf
and NaN within a few steps; unguarded, it trains on, checkpoints and saves NaN weights, and every
later command fails far from the cause. ``DivergenceGuard`` looks, before each optimizer step
(so the weights are still the last good ones), at:

- the loss: not finite -> ``DivergedError`` naming the step, the learning rate and the precision;
- the total gradient norm (all trained parameters, one fused norm): not finite -> the same;
- the total parameter norm: not finite -> the same; larger than ``EXPLODED_FACTOR`` times its value
  when training started, or than ``EXPLODED_NORM``, -> one ``RuntimeWarning``: the weights are
  blowing up while the loss still looks fine (SimCLR with AdamW at lr 1e6 reaches 1e27);

and at each epoch's end, before the checkpoint is written, that the weights are finite, so
``checkpoints/last.ckpt`` always holds the last good epoch. Under ``16-mixed`` a gradient scaler
runs: overflowing gradients are its business (it skips the step and lowers the scale), and the
loss it hands over is scaled, so there only a NaN loss stops the run.

``ssrl.runs`` refuses to save, or load, a backbone holding inf or NaN (``ssrl.finite``), whatever
else let it through.

The three figures come back from the device together, one synchronisation a step (the progress
bar synchronises each step anyway); in multi-process runs every process stops on the same step.
The two fused norms are a small fraction of a step (BENCHMARKS.md, issue 22).
"""

import math
import warnings
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from ssrl.config import UNTIL_BUDGET
from ssrl.errors import DivergedError

# Healthy runs move the global weight norm by a small factor, a learning rate far too high by
# orders of magnitude within steps (the growths measured: BENCHMARKS.md, issue 22).
EXPLODED_FACTOR = 1e4   # × the norm at the start of training
EXPLODED_NORM = 1e6     # absolute: an RMS weight of 1 over 1e12 parameters; catches a resumed run
                        # that had already blown up before its start was measured


def total_norm(tensors) -> torch.Tensor:
    """The L2 norm of all ``tensors`` together (one fused pass; 0 for none)."""
    return torch.nn.utils.get_total_norm([t.detach() for t in tensors])


class DivergenceGuard(Callback):
    """Stops training at the first non-finite loss, gradient or weight; warns once when the
    weights explode (module docstring)."""

    def __init__(self):
        self._loss: torch.Tensor | None = None
        self._start_norm: float | None = None
        self._warned = False

    def on_train_start(self, trainer, pl_module) -> None:
        self._start_norm = float(total_norm(_trained(trainer)))

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        self._loss = loss.detach()

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        scaled = getattr(trainer.precision_plugin, "scaler", None) is not None
        weights = total_norm(params).float()
        grad = weights.new_zeros(()) if scaled else total_norm(p.grad for p in params if p.grad is not None)
        loss = weights.new_zeros(()) if self._loss is None else self._loss
        loss, grad, weights = torch.stack([loss.float().to(weights.device), grad.float().to(weights.device),
                                           weights]).tolist()
        problem = next(((what, value) for what, value, bad in (
            ("the loss is", loss, math.isnan(loss) if scaled else not math.isfinite(loss)),
            ("the gradient norm is", grad, not math.isfinite(grad)),
            ("the weights' norm is", weights, not math.isfinite(weights))) if bad), None)
        if trainer.strategy.reduce_boolean_decision(problem is not None, all=False):
            what, value = problem or ("another process's loss or gradients are", math.nan)
            raise DivergedError(_message(trainer, f"at step {trainer.global_step + 1}", what, value))
        self._warn_if_exploding(trainer, weights)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Lightning calls checkpoint callbacks last: this runs before last.ckpt is written.
        weights = float(total_norm(_trained(trainer)))
        if trainer.strategy.reduce_boolean_decision(not math.isfinite(weights), all=False):
            raise DivergedError(_message(trainer, f"after step {trainer.global_step}", "the weights' norm is", weights))

    def _warn_if_exploding(self, trainer, norm: float) -> None:
        if self._warned or self._start_norm is None or not trainer.is_global_zero:
            return
        if norm > EXPLODED_NORM or norm > EXPLODED_FACTOR * self._start_norm:
            self._warned = True
            warnings.warn(f"step {trainer.global_step + 1}: the weights are exploding (parameter norm {norm:.3g}, "
                          f"{self._start_norm:.3g} at the start of training) while the loss is still finite; "
                          f"{_causes(trainer)}", RuntimeWarning, stacklevel=2)


def _trained(trainer) -> list[torch.Tensor]:
    return [p for opt in trainer.optimizers for group in opt.param_groups for p in group["params"]]


def _causes(trainer) -> str:
    """The likely causes and what to try: the learning rate, and a 16-bit precision if one runs."""
    opt = trainer.optimizers[0]
    lr = opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"])  # before the schedule's warm-up
    text = (f"the learning rate is the likely cause ({lr:.3g} with {type(opt).__name__}): try a smaller --lr "
            "(10 times smaller, say) or more --warmup-epochs")
    if str(trainer.precision).startswith(("16", "bf16")):
        text += f"; or the precision, {trainer.precision}: try --precision 32-true"
    return text


def _message(trainer, when: str, what: str, value: float) -> str:
    """Where training stopped, why, what to try, and what is left in the run directory."""
    done = trainer.current_epoch  # epochs finished, each ending in a checkpoint
    checkpoint = trainer.checkpoint_callback
    path = Path(checkpoint.dirpath) / "last.ckpt" if checkpoint is not None and checkpoint.dirpath else None
    kept = (f"{path}, from the end of epoch {done}, is the last good checkpoint and is kept"
            if path is not None and done > 0 and path.is_file() else "no checkpoint was written")
    of = f" of {trainer.max_epochs:,}" if trainer.max_epochs < UNTIL_BUDGET else ""  # not a budget's bound
    return (f"training diverged {when} (epoch {done + 1}{of}): {what} {value:g}; "
            f"{_causes(trainer)}. Stopped; {kept}, and no backbone was saved")
