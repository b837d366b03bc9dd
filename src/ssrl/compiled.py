"""``torch.compile`` of h_θ and k_γ: what ``--compile`` does and what its default chooses.

Compiling is ``nn.Module.compile`` on the backbone and the head: each module's call is compiled
in place, so its parameters, state-dict keys, checkpoints, resume and exports are those of the
eager module. The first step pays the compilation (tens of seconds on a CPU) and each later
step is faster, so compiling pays on long runs only. TorchInductor generates C++ on a CPU (it
needs a C++ compiler on the PATH) and Triton kernels on a CUDA device (it needs ``triton``).

The default (``compile`` None) compiles when all of these hold, and says why not otherwise:
- the method is checked (``Pretext.compile_checked``: its step measured faster compiled and its
  loss equal to the eager loss within rounding; BENCHMARKS.md, issue 21);
- the run plans at least ``MIN_STEPS`` optimizer steps (a wall-clock ``--budget`` of at least
  ``MIN_BUDGET_S``), many times the steps the compilation takes to pay for itself;
- the device's toolchain is there.
``--compile`` compiles any method; ``--no-compile`` never compiles.
"""

import importlib.util
import shutil

from ssrl.precision import uses_cuda

MIN_STEPS = 1000        # planned optimizer steps from which the default compiles
MIN_BUDGET_S = 10 * 60  # or the wall-clock budget from which it compiles


def toolchain(accelerator: str) -> tuple[bool, str]:
    """(whether TorchInductor can build kernels for the run's device, what is missing)."""
    if uses_cuda(accelerator):
        return importlib.util.find_spec("triton") is not None, "triton is not installed"
    found = any(shutil.which(c) for c in ("g++", "c++", "clang++"))
    return found, "no C++ compiler (g++, c++ or clang++) on the PATH"


def choose_compile(given: bool | None, accelerator: str, method: str, checked: bool,
                   planned_steps: int, budget_s: float | None) -> tuple[bool, str]:
    """(whether to compile, the reason) for ``--compile``/``--no-compile`` or the default (None)."""
    if given is not None:
        return given, "as given"
    if not checked:
        return False, f"{method} has not been checked compiled (--compile compiles it anyway)"
    long_enough = budget_s >= MIN_BUDGET_S if budget_s is not None else planned_steps >= MIN_STEPS
    if not long_enough:
        plan = f"a budget under {MIN_BUDGET_S // 60} minutes" if budget_s is not None else \
            f"{planned_steps:,} steps, under {MIN_STEPS:,}"
        return False, f"{plan}: compiling would not pay for itself"
    ready, missing = toolchain(accelerator)
    if not ready:
        return False, missing
    return True, "a long run of a checked method"
