"""Rewrites of a traced backbone that make inference cheaper and leave its output unchanged.

``fast_pooling`` turns each 2 × 2, stride-2 max-pool (no padding, dilation, ceil mode or indices:
the pooling of ``convnet-small`` and of most small CNNs) into ``max_pool_2x2``, the elementwise
maximum of the four strided sub-grids of its input. On a CPU that is a fraction of what ATen's
``max_pool2d`` costs (which computes the argmax indices as well), and it is equal to the bit,
NaN included (both propagate it). Where a ReLU feeds such a pool and nothing else, the ReLU moves
after it: ReLU is monotone, so max(relu(x)) = relu(max(x)), and it then touches a quarter of the
elements. (Measured: BENCHMARKS.md, issue 21.)
"""

import torch
import torch.nn.functional as F
from torch import fx, nn


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` for (N, C, H, W): odd trailing rows and columns are dropped, as
    there (and a side under 2 raises as there); the result keeps ``x``'s memory format."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    if h == 0 or w == 0:
        return F.max_pool2d(x, 2)
    rows = torch.maximum(x[..., 0:h:2, :w], x[..., 1:h:2, :w])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def fast_pooling(gm: fx.GraphModule) -> fx.GraphModule:
    """``gm`` with every plain 2 × 2 max-pool module replaced by ``max_pool_2x2`` and a ReLU that
    only feeds one moved after it (in place; returns ``gm``)."""
    modules = dict(gm.named_modules())
    for pool in list(gm.graph.nodes):
        if not (pool.op == "call_module" and _plain_2x2(modules[pool.target])):
            continue
        pool.op, pool.target = "call_function", max_pool_2x2
        before = pool.args[0]
        if (isinstance(before, fx.Node) and before.op == "call_module"
                and isinstance(modules[before.target], nn.ReLU) and len(before.users) == 1):
            pool.args = before.args
            pool.replace_all_uses_with(before)
            before.args = (pool,)
            pool.append(before)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm


def _plain_2x2(module: nn.Module) -> bool:
    """A ``nn.MaxPool2d`` that ``max_pool_2x2`` computes exactly."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    return (isinstance(module, nn.MaxPool2d) and pair(module.kernel_size) == (2, 2)
            and pair(module.stride or module.kernel_size) == (2, 2) and pair(module.padding) == (0, 0)
            and pair(module.dilation) == (1, 1) and not module.ceil_mode and not module.return_indices)
