"""End-to-end SimCLR training throughput of `ssrl pretrain` against the peer library lightly's
documented recipe, on B1 (Fashion-MNIST's 60,000 train images, 28 px grayscale, batch 256).
Issue 21's peer benchmark.

    python benchmarks/peer_simclr.py                          # every config at 10 and 70 steps
    python benchmarks/peer_simclr.py --configs lightly-fp32,ssrl-default --threads 2
    python benchmarks/peer_simclr.py --smoke                  # 2 and 4 steps: the plumbing only

Step-difference timing: every configuration runs as a whole separate process, once for the
short and once for the long step count, and (t_long - t_short) / ((long - short) x 256) is its
seconds per image. Start-up, data loading, the first steps' warm-up and whatever a run does
once after training (ssrl saves the backbone and writes its report, with the embedding map)
cancel; what is left is the steady training step, data pipeline included. Configurations:

- lightly-fp32: lightly's recipe as its docs give it (written here from lightly's public API):
  ssrl's ``convnet-small`` backbone, ``SimCLRProjectionHead(128, 512, 128)``,
  ``NTXentLoss(temperature=0.5)``, SGD lr 0.06 momentum 0.9, ``SimCLRTransform`` applied per
  sample to PIL images in a ``DataLoader(batch_size=256, shuffle=True, num_workers=0,
  drop_last=True)``; this script re-runs itself as the worker (``--worker lightly``);
- lightly-bf16: the same, forward and loss under ``torch.autocast("cpu", torch.bfloat16)``;
- ssrl-default, ssrl-32-true, ssrl-bf16-mixed: ``ssrl pretrain --data fashion-mnist --method
  simclr --backbone convnet-small --batch-size 256 --max-steps N`` with no ``--precision`` (the
  default), then ``--precision 32-true`` and ``bf16-mixed``. ``ssrl pretrain`` has no option to
  skip what follows training, so that part is left to cancel.

The two recipes differ beyond the library (each is its library's own default): ssrl's head is
128 -> 128 -> 128 where lightly's is 128 -> 512 -> 128, ssrl trains with AdamW at τ = 0.1 and
jitters saturation and hue (no-ops on one channel), lightly with SGD at τ = 0.5. ssrl makes its
views batched on the device, lightly per image in PIL. Both processes get ``--threads`` torch
threads (OMP_NUM_THREADS, MKL_NUM_THREADS). Data: ``SSRL_DATA_DIR`` as for ``ssrl pretrain``.

lightly is a benchmark-only dependency (``pip install -e ".[bench]"``, or without letting pip
touch torch: ``pip install --no-deps lightly``; its transforms, heads and losses need nothing
more than ssrl already installs). Results: benchmarks/results/peer_simclr.json (``--smoke``:
peer_simclr_smoke.json), with the machine's load average at the start and the end: figures
taken while something else runs are meaningless.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

BATCH = 256
CONFIGS = {  # name: (library, precision flag or None)
    "lightly-fp32": ("lightly", None),
    "lightly-bf16": ("lightly", "bf16"),
    "ssrl-default": ("ssrl", None),
    "ssrl-32-true": ("ssrl", "32-true"),
    "ssrl-bf16-mixed": ("ssrl", "bf16-mixed"),
}
BASELINES = ("lightly-fp32", "lightly-bf16")  # the ratios divide ssrl-default's images/s by these


# ---- the lightly worker: one whole process per timing ----------------------------------------

def lightly_recipe():
    """(model, loss, transform) of lightly's documented SimCLR recipe on ssrl's convnet-small."""
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.transforms import SimCLRTransform
    from torch import nn

    from ssrl.backbones import build_backbone

    backbone = build_backbone("convnet-small", 1, 28)                        # (B, 1, 28, 28) -> (B, 128)
    model = nn.Sequential(backbone, SimCLRProjectionHead(backbone.dim, 512, 128))
    transform = SimCLRTransform(input_size=28, cj_prob=0.8, cj_strength=1.0, cj_bright=0.4, cj_contrast=0.4,
                                cj_sat=0, cj_hue=0, min_scale=0.2, random_gray_scale=0, gaussian_blur=0,
                                hf_prob=0.5, normalize=None)                  # PIL image -> [view0, view1]
    return model, NTXentLoss(temperature=0.5), transform


class PILImages(torch.utils.data.Dataset):
    """Images (N, 1, H, W) uint8 as PIL images through ``transform``: lightly's per-sample views."""

    def __init__(self, images: torch.Tensor, transform):
        self.images, self.transform = images[:, 0].numpy(), transform    # (N, H, W)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i]))             # mode "L"


def lightly_worker(steps: int, bf16: bool) -> None:
    """Train lightly's recipe for ``steps`` optimizer steps, then print the count as JSON."""
    from ssrl.data.named import load_named

    torch.manual_seed(0)
    model, criterion, transform = lightly_recipe()
    data = PILImages(load_named("fashion-mnist").images, transform)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, num_workers=0, drop_last=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    done = 0
    while done < steps:
        for x0, x1 in loader:                                               # two (B, 1, 28, 28) views
            with precision:
                loss = criterion(model(x0), model(x1))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            done += 1
            if done == steps:
                break
    print(json.dumps({"steps": done, "loss": loss.item()}))


# ---- the parent: time each configuration as whole processes ----------------------------------

def command(config: str, steps: int, out: Path) -> list[str]:
    library, precision = CONFIGS[config]
    if library == "lightly":
        return [sys.executable, __file__, "--worker", "lightly", "--steps", str(steps),
                *(["--bf16"] if precision else [])]
    return [sys.executable, "-m", "ssrl", "pretrain", "--data", "fashion-mnist", "--method", "simclr",
            "--backbone", "convnet-small", "--batch-size", str(BATCH), "--max-steps", str(steps),
            "--out", str(out), *(["--precision", precision] if precision else [])]


def timed_run(config: str, steps: int, threads: int) -> dict:
    """Wall time of one whole process training ``config`` for ``steps`` steps, and what it did."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    tmp = Path(tempfile.mkdtemp(prefix="peer_simclr_"))
    try:
        start = time.perf_counter()
        proc = subprocess.run(command(config, steps, tmp / "run"), env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"{config} at {steps} steps failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return {"seconds": seconds, **what_ran(config, proc.stdout, tmp / "run")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def what_ran(config: str, stdout: str, run_dir: Path) -> dict:
    """Steps done (and for ssrl the precision it resolved), so a timing is never of the wrong thing."""
    if CONFIGS[config][0] == "lightly":
        steps = json.loads(stdout.strip().splitlines()[-1])["steps"]
        return {"steps": steps, "precision": "bf16-autocast" if CONFIGS[config][1] else "fp32"}
    import yaml

    from ssrl.report.metrics import steps_done

    precision = yaml.safe_load((run_dir / "config.yaml").read_text())["precision"]
    return {"steps": steps_done(run_dir / "metrics.csv"), "precision": precision}


def measure(config: str, short: int, long: int, threads: int) -> dict:
    load = os.getloadavg()[0]
    runs = [timed_run(config, n, threads) for n in (short, long)]
    for n, run in zip((short, long), runs):
        if run["steps"] != n:
            raise SystemExit(f"{config}: asked for {n} steps, the run did {run['steps']}")
    dt = runs[1]["seconds"] - runs[0]["seconds"]
    images_per_s = (long - short) * BATCH / dt if dt > 0 else None  # dt <= 0: noise swamped the steps
    return {"t_short": round(runs[0]["seconds"], 2), "t_long": round(runs[1]["seconds"], 2),
            "images_per_s": round(images_per_s, 1) if images_per_s else None,
            "precision": runs[1]["precision"], "load_1min_before": round(load, 2)}


def ratios(results: dict) -> dict:
    """ssrl-default's images/s over each lightly baseline's (> 1: ssrl is faster)."""
    out = {}
    ours = results.get("ssrl-default", {}).get("images_per_s")
    for base in BASELINES:
        theirs = results.get(base, {}).get("images_per_s")
        if ours and theirs:
            out[f"ssrl-default / {base}"] = round(ours / theirs, 2)
    return out


def print_table(results: dict, short: int, long: int) -> None:
    print(f"\n{'config':<16} {'precision':<13} {f't{short} (s)':>9} {f't{long} (s)':>9} {'images/s':>9}")
    for name, r in results.items():
        ips = f"{r['images_per_s']:.1f}" if r["images_per_s"] else "n/a"
        print(f"{name:<16} {r['precision']:<13} {r['t_short']:>9.2f} {r['t_long']:>9.2f} {ips:>9}")


def load_average(load: tuple[float, float, float]) -> list[float]:
    """1, 5 and 15 minute load averages, as `uptime` prints them."""
    return [round(v, 2) for v in load]


def names(text: str) -> list[str]:
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CONFIGS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown config(s) {unknown}; choose from: {', '.join(CONFIGS)}")
    return chosen


def step_counts(text: str) -> list[int]:
    """``--steps``: SHORT,LONG for the timing, or the worker's one N."""
    try:
        steps = [int(v) for v in text.split(",")]
    except ValueError:
        steps = []
    if not steps or len(steps) > 2 or steps[0] < 1 or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError(f"{text!r}: need SHORT,LONG with 0 < SHORT < LONG")
    return steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=step_counts, default=[10, 70], help="SHORT,LONG optimizer steps (default 10,70)")
    p.add_argument("--configs", type=names, default=list(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    p.add_argument("--threads", type=int, default=2, help="torch threads of every run (default 2)")
    p.add_argument("--smoke", action="store_true", help="2 and 4 steps: tests the plumbing, times nothing")
    p.add_argument("--worker", choices=["lightly"], help=argparse.SUPPRESS)  # one timed lightly process
    p.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.worker:
        lightly_worker(a.steps[-1], a.bf16)
        return
    if len(a.steps) != 2:
        p.error("--steps: need SHORT,LONG")
    short, long = (2, 4) if a.smoke else a.steps
    load_start = os.getloadavg()
    results = {}
    for config in a.configs:  # one after another, never two at once on the same cores
        results[config] = measure(config, short, long, a.threads)
        print(f"{config}: {results[config]}", flush=True)
    from importlib.metadata import version

    result = {"benchmark": "peer_simclr", "protocol": "B1: Fashion-MNIST train (60,000, 28 px, 1 channel)",
              "batch_size": BATCH, "steps": [short, long], "threads": a.threads, "smoke": a.smoke,
              "lightly": version("lightly") if any(c.startswith("lightly") for c in a.configs) else None,
              "configs": results, "ratios": ratios(results),
              "load_average_start": load_average(load_start), "load_average_end": load_average(os.getloadavg())}
    save("peer_simclr_smoke" if a.smoke else "peer_simclr", result)
    print_table(results, short, long)


if __name__ == "__main__":
    main()
