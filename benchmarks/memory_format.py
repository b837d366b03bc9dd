"""Forward + backward + SGD step images/s of a backbone in the default memory format against
channels_last, to justify the engine's ``channels_last`` default.

    python benchmarks/memory_format.py --backbone convnet-small --batch-size 256
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

from ssrl.backbones import build_backbone  # noqa: E402


def images_per_s(backbone: str, batch: int, size: int, channels: int, channels_last: bool, steps: int) -> float:
    net = build_backbone(backbone, channels, size, seed=0)
    x = torch.rand(batch, channels, size, size)
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    times = []
    for _ in range(3 + steps):
        start = time.perf_counter()
        loss = net(x).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[3:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="convnet-small")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3, help="alternate the two formats this many times")
    a = p.parse_args()
    runs = {"default": [], "channels_last": []}
    for _ in range(a.rounds):  # alternating rounds: drift on a shared machine hits both alike
        for name in runs:
            runs[name].append(images_per_s(a.backbone, a.batch_size, a.image_size, a.channels,
                                           name == "channels_last", a.steps))
    result = {"benchmark": "memory_format", "backbone": a.backbone, "batch_size": a.batch_size,
              "input": [a.channels, a.image_size, a.image_size],
              **{f"{k}_images_per_s": round(statistics.median(v), 1) for k, v in runs.items()}}
    result["speedup"] = round(result["channels_last_images_per_s"] / result["default_images_per_s"], 2)
    save(f"memory_format_{a.backbone}", result)


if __name__ == "__main__":
    main()
