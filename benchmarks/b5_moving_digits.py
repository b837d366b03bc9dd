"""B5 (issue 26), the moving-digits part: label propagation of each digit's mask through its video.

The data: B4's moving-digits split (``video_b4.split_data``). Each held-out video (the first
``--videos``) is written as a DAVIS-layout folder, ``benchmarks/.cache/b5/moving-digits-davis``:
its 16 frames as PNGs and, for every frame, the exact mask of the digit by construction (pixels of
the moving sprite brighter than ``MASK_LEVEL``, object 1; the rest background). A method pretrains
on the training videos only, without labels or masks, for ``--max-steps`` (one torch thread; pin
the process with ``taskset``), then ``ssrl evaluate RUN --data FOLDER --protocol propagate`` gives
J, F and J&F beside the same backbone at its random init and the pixel-colour baseline.

    python benchmarks/b5_moving_digits.py --methods cycle_consistency --seeds 0 --max-steps 300

What this part cannot show: the digits are white on black, so colour alone finds them (the pixel
baseline is strong here by construction); the textured objects over real clips that B5 also asks
for are not built yet. Result: ``benchmarks/results/b5_moving_digits{TAG}.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, peak_rss_mb  # noqa: E402
from video_b4 import CACHE as B4_CACHE, split_data  # noqa: E402

import ssrl  # noqa: E402

FOLDER = Path(__file__).parent / ".cache" / "b5" / "moving-digits-davis"
MASK_LEVEL = 64  # of 255: the sprite's own pixels (its upscaled edges fade into the black frame)


def write_davis(split: Path, videos: int) -> Path:
    """The first ``videos`` held-out videos as a DAVIS folder (once)."""
    done = FOLDER / "ImageSets" / "val.txt"
    if done.exists() and len(done.read_text().split()) == videos:
        return FOLDER
    x = np.load(split)["x_test"][:videos]                               # (N, T, 1, 32, 32) uint8
    names = []
    for i, video in enumerate(x):
        name = f"digits{i:04d}"
        for sub in ("JPEGImages", "Annotations"):
            (FOLDER / sub / name).mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(video[:, 0]):
            Image.fromarray(frame).save(FOLDER / "JPEGImages" / name / f"{t:05d}.png")
            mask = Image.fromarray((frame > MASK_LEVEL).astype(np.uint8), mode="P")
            mask.putpalette([0, 0, 0, 255, 255, 255])
            mask.save(FOLDER / "Annotations" / name / f"{t:05d}.png")
        names.append(name)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text("\n".join(names) + "\n")
    return FOLDER


def one_row(split: Path, folder: Path, method: str, seed: int, args) -> dict:
    out = Path(args.runs) / f"{method}-s{seed}{args.tag}"
    start = time.time()
    run = ssrl.pretrain(str(split), method, backbone=args.backbone, out=out, seed=seed,
                        batch_size=args.batch_size, max_steps=args.max_steps, progress=False)
    wall = time.time() - start
    result = ssrl.evaluate(run, str(folder), "propagate", save=False)
    keys = [f"{who}{m}" for who in ("", "random_init_", "pixel_") for m in ("J", "F", "J&F")]
    return {"method": method, "backbone": args.backbone, "seed": seed, "max_steps": args.max_steps,
            "pretrain_wall_s": round(wall, 1), "peak_rss_mb": round(peak_rss_mb()),
            **{k: round(result[k], 4) for k in keys if k in result}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="cycle_consistency")
    p.add_argument("--backbone", default="convnet-small")
    p.add_argument("--seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--max-steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--videos", type=int, default=60, help="held-out videos to propagate through")
    p.add_argument("--runs", default=str(B4_CACHE.parent / "b5" / "runs"))
    p.add_argument("--tag", default="")
    args = p.parse_args()
    split = split_data()
    folder = write_davis(split, args.videos)
    rows = []
    for method in args.methods.split(","):
        for seed in args.seeds:
            rows.append(one_row(split, folder, method, seed, args))
            print(json.dumps(rows[-1]), flush=True)
    path = RESULTS / f"b5_moving_digits{args.tag}.json"
    path.write_text(json.dumps({"benchmark": "B5 moving digits: label propagation", "videos": args.videos,
                                "command": " ".join(sys.argv), "machine": machine(), "rows": rows}, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
