"""DINO's centre over two CPU processes (DDP, gloo): ``update_center`` all-reduces the batch sum
and count, so both processes get the centre one process computes on the global batch, even
when their local batches differ in size."""

import os

import pytest
import torch
import torch.distributed as dist

from ssrl.losses.distillation import update_center
from tests.test_distributed import spawn_two

WORLD, K, MOMENTUM = 2, 6, 0.9
LOCAL_ROWS = {"equal": (4, 4), "unequal": (2, 6)}  # teacher rows per process (both global views)


def _global_batch(rows: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    center = torch.randn(K, generator=g, dtype=torch.float64)
    return center, torch.randn(sum(rows), K, generator=g, dtype=torch.float64)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {}
        for name, rows in LOCAL_ROWS.items():
            center, logits = _global_batch(rows)
            mine = logits[sum(rows[:rank]):sum(rows[:rank + 1])]
            results[name] = update_center(center, list(mine.chunk(2)), MOMENTUM)
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_centers(tmp_path_factory):
    return spawn_two(_worker, tmp_path_factory.mktemp("ddp_dino"))


@pytest.mark.parametrize("name", sorted(LOCAL_ROWS))
def test_two_process_center_equals_one_process_center(two_process_centers, name):
    center, logits = _global_batch(LOCAL_ROWS[name])
    expected = update_center(center, logits, MOMENTUM)
    for result in two_process_centers:
        torch.testing.assert_close(result[name], expected, rtol=1e-12, atol=1e-12)


def test_local_centers_would_differ():
    # Guards the test's power: each process's own batch mean is not the global one.
    center, logits = _global_batch(LOCAL_ROWS["unequal"])
    local = update_center(center, logits[:2], MOMENTUM)
    assert (local - update_center(center, logits, MOMENTUM)).abs().max() > 1e-3
