"""Throughput of the procedural renderer (issue 27, ``ssrl.data.synthetic_scenes``): random
scenes drawn and ray cast per second, with their RGB image, depth, normals, ids and contours, at
each image side, in batches as ``synthetic_multitask`` draws them (one per training step).

    OMP_NUM_THREADS=2 taskset -c 0,1 python benchmarks/synthetic_render.py [--threads 2]
        [--sides 32,64] [--batch 256] [--rounds 5] [--channels 3] [--device cpu]

Reports the median over ``--rounds`` timed batches after one warm-up batch, split into drawing
the scene parameters (CPU) and rendering them (on ``--device``), and the load average before
and after (the machine may be shared). Writes benchmarks/results/synthetic_render[_TAG].json.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

from ssrl.data.synthetic_scenes import SceneConfig, render, sample_scenes  # noqa: E402


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def time_side(side: int, batch: int, rounds: int, channels: int, device: str) -> dict:
    """Median seconds per batch: drawing the scenes, rendering them, both; and scenes per second."""
    cfg, gen = SceneConfig(), torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    draws, renders = [], []
    for i in range(rounds + 1):  # the first batch warms up (texture bank, allocator)
        start = time.perf_counter()
        scenes = sample_scenes(batch, cfg, gen).to(device)
        drawn = time.perf_counter()
        out = render(scenes, side, side, channels)
        sync()
        done = time.perf_counter()
        assert (out.ids >= 0).all()  # every ray met a surface
        if i:
            draws.append(drawn - start)
            renders.append(done - drawn)
    draw, rend = statistics.median(draws), statistics.median(renders)
    return {"side": side, "batch": batch, "draw_s": round(draw, 4), "render_s": round(rend, 4),
            "scenes_per_s": round(batch / (draw + rend), 1), "render_only_scenes_per_s": round(batch / rend, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sides", default="32,64")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    before = load_average()
    rows = [time_side(int(s), args.batch, args.rounds, args.channels, args.device) for s in args.sides.split(",")]
    for r in rows:
        print(f"{r['side']:>4} px: {r['scenes_per_s']:>8,.1f} scenes/s (draw {r['draw_s']:.3f} s + render "
              f"{r['render_s']:.3f} s per batch of {r['batch']})")
    save(f"synthetic_render{args.tag}", {"benchmark": "synthetic_render", "threads": args.threads,
                                         "channels": args.channels, "device": args.device, "rounds": args.rounds,
                                         "results": rows, "load_average_before": before,
                                         "load_average_after": load_average()})


if __name__ == "__main__":
    main()
