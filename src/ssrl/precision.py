"""Numeric precision: what ``--precision auto`` chooses, and the autocast evaluation runs under.

``auto`` is bf16 mixed precision (Lightning's ``bf16-mixed``: weights, optimizer state and the
numerically sensitive operations in float32, matrix products and convolutions in bfloat16) where
the device executes bfloat16 natively and the method has been checked under it; float32
(``32-true``) otherwise. Native bfloat16 means a CUDA device of compute capability 8.0 or newer,
or an x86 CPU with AMX-BF16 or AVX512-BF16 (read from ``/proc/cpuinfo``); elsewhere bfloat16 is
emulated, slower than float32. A method is checked when its accuracy under bf16, measured over
seeds beside float32, lost nothing beyond the seed spread (``Pretext.bf16_checked``;
BENCHMARKS.md, issue 21); an unchecked method keeps float32 under ``auto`` and the run says so.
"""

import functools
from contextlib import nullcontext
from pathlib import Path

import torch

from ssrl.errors import SsrlError

AUTO = "auto"
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The CPU's native-bfloat16 flags (AMX-BF16, AVX512-BF16) found in ``cpuinfo``; () where the
    file is absent (not Linux)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path(cpuinfo).read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return ()
    return tuple(f for f in CPU_BF16_FLAGS if f in flags)


def uses_cuda(accelerator: str) -> bool:
    """Whether a run with this ``--accelerator`` trains on a CUDA device (as Lightning's "auto" picks)."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def native_bf16(accelerator: str) -> tuple[bool, str]:
    """(whether the device a run uses executes bfloat16 natively, which device and why)."""
    if uses_cuda(accelerator):
        if not torch.cuda.is_available():
            return False, "no CUDA device"
        major, minor = torch.cuda.get_device_capability()
        return major >= 8, f"CUDA device of compute capability {major}.{minor}"
    flags = cpu_bf16_flags()
    return bool(flags), f"CPU with {'/'.join(flags).upper()}" if flags else "CPU without AMX or AVX512-BF16"


def choose_precision(given: str, accelerator: str, method: str, bf16_checked: bool) -> tuple[str, str]:
    """(Lightning precision, the reason) for a run given ``--precision given``: ``auto`` resolved
    as the module docstring says; anything else kept as given."""
    if given not in PRECISIONS:
        raise SsrlError(f"--precision {given!r}: expected one of {', '.join(PRECISIONS)}")
    if given != AUTO:
        return given, "as given"
    native, device = native_bf16(accelerator)
    if not native:
        return "32-true", f"auto: {device} has no native bfloat16"
    if not bf16_checked:
        return "32-true", (f"auto: {method} has not been checked under bf16 (--precision bf16-mixed "
                           f"uses the {device} anyway)")
    return "bf16-mixed", f"auto: {device}"


def in_float32(fn):
    """Decorator: ``fn`` runs with autocast off and its floating-point tensor arguments in
    float32 (float64 ones kept), so a statistic or a loss computed from bf16/fp16 activations is
    computed, and returned, in full precision. Autocast would otherwise run its matrix
    products (a D×D correlation, a cosine's dot products) in half precision again."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        args, kwargs = _upcast(args), {k: _upcast(v) for k, v in kwargs.items()}
        device = next((t.device.type for t in _tensors((*args, *kwargs.values()))), "cpu")
        if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)
    return wrapper


def _upcast(x):
    if isinstance(x, torch.Tensor) and x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    if isinstance(x, (list, tuple)):
        return type(x)(_upcast(v) for v in x)
    return x


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)


def autocast_for(device: torch.device | str, precision: str):
    """The autocast context a run of ``precision`` (a resolved one) evaluates under on ``device``:
    bfloat16 for ``bf16-mixed``, float16 for ``16-mixed`` on CUDA, none otherwise. Feature
    extraction for a run's backbone and for its random-init floor runs under the same one."""
    device = torch.device(device)
    if precision == "bf16-mixed" and device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16-mixed" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()
