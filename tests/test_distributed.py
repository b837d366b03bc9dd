"""Two CPU processes (DDP, gloo) against one, for every loss that couples samples across the
batch: the mean of the processes' losses and the parameter gradients after DDP's all-reduce
must equal the one-process values on the same global batch (the world-size scaling bug
would leave the gradients W times too small)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ssrl.distributed import gather_with_grad
from ssrl.losses import barlow_twins, nt_xent, vicreg
from ssrl.losses.mutual_information import local_nce
from ssrl.pretext.deepcluster import cluster_features, global_features
from ssrl.pretext.moco_v2 import moco_loss, shuffled_forward
from ssrl.pretext.moco_v3 import moco_v3_loss
from ssrl.pretext.nnclr import nnclr_loss
from ssrl.components.queue import EmbeddingQueue

WORLD, LOCAL_BATCH, DIM_IN, DIM_OUT = 2, 4, 6, 5
# Non-default weights make every term matter; γ = 2 keeps VICReg's hinge active.
LOSSES = {
    "nt_xent": lambda a, b: nt_xent(a, b, temperature=0.5),
    "barlow_twins": lambda a, b: barlow_twins(a, b, lambda_offdiag=0.1),
    "vicreg": lambda a, b: vicreg(a, b, 25.0, 25.0, 1.0, gamma=2.0),
    # The first argument takes the gradient (queries, predictions); the second is the target side.
    "moco_v2": lambda a, b: moco_loss(a, b, torch.eye(DIM_OUT, dtype=a.dtype), temperature=0.5),
    "moco_v3": lambda a, b: moco_v3_loss(a, b, temperature=0.5),
    "nnclr": lambda a, b: nnclr_loss(b.detach(), a, temperature=0.5),
    # AMDIM's NCE: the second view's embedding spread over 3 "locations" of a target map.
    "local_nce": lambda a, b: sum(local_nce(a, b[:, :, None] * torch.tensor([1.0, -0.5, 2.0], dtype=b.dtype),
                                            clip=2.0, penalty=0.5)),
}
# Losses whose every process computes the whole global loss (NT-Xent computes its own anchors' part).
GLOBAL_ON_EVERY_PROCESS = {"barlow_twins", "vicreg"}


def _model() -> nn.Module:
    torch.manual_seed(0)  # BN-free: BatchNorm would use per-process statistics
    return nn.Sequential(nn.Linear(DIM_IN, 8), nn.Tanh(), nn.Linear(8, DIM_OUT)).double()


def _bn_encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(DIM_IN, 3), nn.BatchNorm1d(3)).double()


def _conv() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net.dim = 2
    return net


def _images() -> torch.Tensor:  # 7 images: the two processes' shares differ in size
    return torch.randint(0, 256, (7, 1, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))


def _features(rank: int) -> torch.Tensor:
    """The global feature set; rank 1's copy is perturbed so only rank 0's clustering can count."""
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(3))
    return x if rank == 0 else x + torch.randn(30, 4) * 10


def _global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    n = WORLD * LOCAL_BATCH
    return torch.randn(n, DIM_IN, generator=g, dtype=torch.float64), torch.randn(n, DIM_IN, generator=g, dtype=torch.float64)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        x1, x2 = _global_batch()
        part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        results = {"gathered": gather_with_grad(torch.full((2, 1), float(rank)))}
        queue = EmbeddingQueue(size=3, dim=DIM_IN).double()
        queue.push(x1[part])
        results["queue"] = queue.get()
        torch.manual_seed(7)  # rank 0 draws the permutation, the same as one process below
        results["shuffled"] = shuffled_forward(_bn_encoder(), x1[part], splits=WORLD)
        results["features"] = global_features(_conv(), _images())
        results["clusters"] = cluster_features(_features(rank), k=3, pca_dim=2, iterations=5, seed=0)
        for name, fn in LOSSES.items():
            model = DistributedDataParallel(_model())
            loss = fn(model(x1[part]), model(x2[part]))
            loss.backward()  # DDP averages parameter gradients over the processes
            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            mean_loss /= WORLD
            results[name] = {"loss": loss.detach(), "mean_loss": mean_loss, "grads": [p.grad for p in model.parameters()]}
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_two(worker, out) -> list[dict]:
    """Run ``worker(rank, port, out_dir)`` in WORLD processes; each saves ``out/rank{r}.pt``,
    returned in rank order."""
    for attempt in range(3):
        # Another process may take the free port between probing and binding; a real
        # failure fails every attempt.
        try:
            mp.spawn(worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
            break
        except Exception:
            if attempt == 2:
                raise
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    return spawn_two(_worker, tmp_path_factory.mktemp("ddp"))


def _one_process(name: str):
    model = _model()
    x1, x2 = _global_batch()
    loss = LOSSES[name](model(x1), model(x2))
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


def test_gather_concatenates_in_rank_order(two_process_results):
    expected = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
    for result in two_process_results:
        torch.testing.assert_close(result["gathered"], expected)


def test_queue_holds_the_global_batch_on_every_process(two_process_results):
    x1, _ = _global_batch()
    queue = EmbeddingQueue(size=3, dim=DIM_IN).double()
    queue.push(x1)
    for result in two_process_results:
        torch.testing.assert_close(result["queue"], queue.get())


def test_shuffled_bn_across_processes_equals_one_process_splits(two_process_results):
    x1, _ = _global_batch()
    torch.manual_seed(7)
    expected = shuffled_forward(_bn_encoder(), x1, splits=WORLD)
    for r, result in enumerate(two_process_results):
        torch.testing.assert_close(result["shuffled"], expected[r * LOCAL_BATCH:(r + 1) * LOCAL_BATCH])


def test_deepcluster_features_are_gathered_and_assignments_broadcast(two_process_results):
    from ssrl.evaluation.features import extract_features

    expected = extract_features(_conv(), _images(), device="cpu")
    clusters = cluster_features(_features(0), k=3, pca_dim=2, iterations=5, seed=0)
    for result in two_process_results:
        torch.testing.assert_close(result["features"], expected)
        assert torch.equal(result["clusters"], clusters)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_two_process_loss_equals_one_process_loss(two_process_results, name):
    loss, _ = _one_process(name)
    for result in two_process_results:
        torch.testing.assert_close(result[name]["mean_loss"], loss, rtol=1e-10, atol=1e-12)
        if name in GLOBAL_ON_EVERY_PROCESS:
            torch.testing.assert_close(result[name]["loss"], loss, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_two_process_gradients_equal_one_process_gradients(two_process_results, name):
    _, grads = _one_process(name)
    for result in two_process_results:
        for a, b in zip(result[name]["grads"], grads):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_local_batch_losses_would_differ(name):
    # Guards the test's power: per-process (ungathered) losses are not the global loss.
    model = _model()
    x1, x2 = _global_batch()
    fn = LOSSES[name]
    halves = [fn(model(x1[i:i + LOCAL_BATCH]), model(x2[i:i + LOCAL_BATCH]))
              for i in range(0, WORLD * LOCAL_BATCH, LOCAL_BATCH)]
    assert abs(sum(halves).item() / WORLD - fn(model(x1), model(x2)).item()) > 1e-3
