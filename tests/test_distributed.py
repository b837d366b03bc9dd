"""Two CPU processes (DDP, gloo) against one: NT-Xent over the gathered global batch and the
parameter gradients after DDP's all-reduce must equal the one-process values on that batch."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ssrl.distributed import gather_with_grad
from ssrl.losses import nt_xent

WORLD, LOCAL_BATCH, DIM_IN, DIM_OUT, TAU = 2, 4, 6, 5, 0.5


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(DIM_IN, 8), nn.Tanh(), nn.Linear(8, DIM_OUT)).double()


def _global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    n = WORLD * LOCAL_BATCH
    return torch.randn(n, DIM_IN, generator=g, dtype=torch.float64), torch.randn(n, DIM_IN, generator=g, dtype=torch.float64)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model = DistributedDataParallel(_model())
        x1, x2 = _global_batch()
        part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        loss = nt_xent(model(x1[part]), model(x2[part]), TAU)
        loss.backward()  # DDP averages parameter gradients over the processes
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        mean_loss /= WORLD
        gathered = gather_with_grad(torch.full((2, 1), float(rank)))
        grads = [p.grad for p in model.parameters()]
        torch.save({"loss": mean_loss, "grads": grads, "gathered": gathered}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _one_process():
    model = _model()
    x1, x2 = _global_batch()
    loss = nt_xent(model(x1), model(x2), TAU)
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


def test_gather_concatenates_in_rank_order(two_process_results):
    expected = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
    for result in two_process_results:
        torch.testing.assert_close(result["gathered"], expected)


def test_two_process_loss_equals_one_process_loss(two_process_results):
    loss, _ = _one_process()
    for result in two_process_results:
        torch.testing.assert_close(result["loss"], loss, rtol=1e-10, atol=1e-12)


def test_two_process_gradients_equal_one_process_gradients(two_process_results):
    _, grads = _one_process()
    for result in two_process_results:
        for a, b in zip(result["grads"], grads):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
