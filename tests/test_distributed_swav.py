"""SwAV over two CPU processes (DDP, gloo) against one on the same global batch: the Sinkhorn
all-reduces its sums, so each process gets its own rows of the global codes (local batches may
differ in size); the mean of the processes' swapped-prediction losses and the parameter
gradients after DDP's all-reduce equal the one-process loss and gradients."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ssrl.losses.swapped import sinkhorn, swav_loss
from tests.test_distributed import spawn_two

WORLD, LOCAL_BATCH, DIM_IN, K, VIEWS = 2, 4, 6, 5, 4  # 2 global views (coded) + 2 local views
LOCAL_ROWS = {"equal": (4, 4), "unequal": (2, 6)}     # Sinkhorn rows per process


class _Scorer(nn.Module):
    """BN-free stand-in for SwAV's head: normalized projection, then K unit prototypes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(DIM_IN, 3)
        self.prototypes = nn.Linear(3, K, bias=False)

    def forward(self, x):
        return F.linear(F.normalize(self.proj(x), dim=1), F.normalize(self.prototypes.weight, dim=1))


def _scores(rows: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, K, generator=torch.Generator().manual_seed(3), dtype=torch.float64), dim=1)


def _batch_views() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(WORLD * LOCAL_BATCH, DIM_IN, generator=g, dtype=torch.float64) for _ in range(VIEWS)]


def _loss(model: nn.Module, views: list[torch.Tensor]) -> torch.Tensor:
    scores = [model(v) for v in views]
    codes = [sinkhorn(s.detach(), 0.05, 3) for s in scores[:2]]
    return swav_loss(scores, codes, temperature=0.1)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {}
        for name, rows in LOCAL_ROWS.items():
            mine = _scores(sum(rows))[sum(rows[:rank]):sum(rows[:rank + 1])]
            results[name] = sinkhorn(mine, 0.05, 3)
        part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        model = DistributedDataParallel(_Scorer().double())
        loss = _loss(model, [v[part] for v in _batch_views()])
        loss.backward()  # DDP averages parameter gradients over the processes
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        results["mean_loss"] = mean_loss / WORLD
        results["grads"] = [p.grad for p in model.parameters()]
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    return spawn_two(_worker, tmp_path_factory.mktemp("ddp_swav"))


@pytest.mark.parametrize("name", sorted(LOCAL_ROWS))
def test_two_process_sinkhorn_equals_one_process_rows(two_process_results, name):
    rows = LOCAL_ROWS[name]
    expected = sinkhorn(_scores(sum(rows)), 0.05, 3)
    got = torch.cat([result[name] for result in two_process_results])
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_two_process_swav_loss_and_gradients_equal_one_process(two_process_results):
    model = _Scorer().double()
    loss = _loss(model, _batch_views())
    loss.backward()
    for result in two_process_results:
        torch.testing.assert_close(result["mean_loss"], loss.detach(), rtol=1e-10, atol=1e-12)
        for a, p in zip(result["grads"], model.parameters(), strict=True):
            torch.testing.assert_close(a, p.grad, rtol=1e-9, atol=1e-12)


def test_local_sinkhorn_would_differ():
    # Guards the test's power: each process's own Sinkhorn is not its rows of the global one.
    scores = _scores(8)
    local = torch.cat([sinkhorn(scores[:2]), sinkhorn(scores[2:])])
    assert (local - sinkhorn(scores)).abs().max() > 1e-2
