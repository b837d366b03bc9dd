"""B5 (issue 26), the moving-textures part: label propagation of textured objects' exact masks.

The data: ``moving-textures`` (``ssrl.data.moving_textures``), synthetic and saying so: objects cut
by random smooth blobs from scikit-learn's two real photographs, moving on curved bouncing paths
with ±20 % scale change and crossing (the later one in front) over a slowly panning crop of a
photograph, 24 RGB frames of 64×64 px, every mask exact by construction. A method pretrains on
the first ``--train-videos`` of the set's training videos (seed 0), without masks, for
``--max-steps`` (or ``--budget``; one torch thread: pin the process with ``taskset``). The first
``--videos`` held-out videos (seed 1, none of them a training video) are written once as a
DAVIS-layout folder, ``benchmarks/.cache/b5/moving-textures-davis``, and ``ssrl evaluate RUN
--data FOLDER --protocol propagate`` gives J, F and J&F beside the same backbone at its random
init and the pixel-colour baseline.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/b5_moving_textures.py \\
        --methods cycle_consistency,video_colorization,tracking --seeds 0,1,2 --budget 10m

What it cannot show: the textures all come from two photographs, so held-out videos show regions
the training videos also showed (in other places, sizes and paths); and the objects are pasted
with hard edges, no blur, lighting or deformation. It is a test of correspondence, not of
DAVIS-like appearance change. Result: ``benchmarks/results/b5_moving_textures{TAG}.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, peak_rss_mb  # noqa: E402

import ssrl  # noqa: E402
from ssrl.data import moving_textures  # noqa: E402

CACHE = Path(__file__).parent / ".cache" / "b5"
FOLDER = CACHE / "moving-textures-davis"


def write_davis(videos: int) -> Path:
    """The first ``videos`` held-out videos as a DAVIS folder (once: the set is deterministic)."""
    done = FOLDER / "ImageSets" / "2017" / "val.txt"
    if done.exists() and len(done.read_text().split()) == videos:
        return FOLDER
    return moving_textures.write_davis(FOLDER, n=videos, seed=moving_textures.HELDOUT_SEED)


def one_row(folder: Path, method: str, seed: int, args) -> dict:
    out = Path(args.runs) / f"{method}-s{seed}{args.tag}"
    start = time.time()
    run = ssrl.pretrain(moving_textures.NAME, method, backbone=args.backbone, out=out, seed=seed,
                        batch_size=args.batch_size, max_steps=args.max_steps, budget=args.budget,
                        limit=args.train_videos, progress=False)
    wall = time.time() - start
    result = ssrl.evaluate(run, str(folder), "propagate", save=False)
    keys = [f"{who}{m}" for who in ("", "random_init_", "pixel_") for m in ("J", "F", "J&F")]
    return {"method": method, "backbone": args.backbone, "seed": seed, "max_steps": args.max_steps,
            "budget": args.budget, "train_videos": args.train_videos or moving_textures.VIDEOS,
            "pretrain_wall_s": round(wall, 1), "peak_rss_mb": round(peak_rss_mb()),
            **{k: round(result[k], 4) for k in keys if k in result}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="cycle_consistency")
    p.add_argument("--backbone", default="convnet-small")
    p.add_argument("--seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--max-steps", type=int, default=None, help="steps of each pretraining (300 unless --budget)")
    p.add_argument("--budget", default=None, help="instead, a wall-clock limit of each pretraining (10m)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--train-videos", type=int, default=None,
                   help=f"the first N training videos (default: all {moving_textures.VIDEOS})")
    p.add_argument("--videos", type=int, default=60, help="held-out videos to propagate through")
    p.add_argument("--runs", default=str(CACHE / "textures-runs"))
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if args.max_steps is None and args.budget is None:
        args.max_steps = 300
    folder = write_davis(args.videos)
    rows = []
    for method in args.methods.split(","):
        for seed in args.seeds:
            rows.append(one_row(folder, method, seed, args))
            print(json.dumps(rows[-1]), flush=True)
    path = RESULTS / f"b5_moving_textures{args.tag}.json"
    path.write_text(json.dumps({"benchmark": "B5 moving textures: label propagation", "videos": args.videos,
                                "command": " ".join(sys.argv), "machine": machine(), "rows": rows}, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
