"""B5 diagnostic: label propagation's J&F as a function of which of h_θ's maps is read.

    python benchmarks/b5_map_choice.py RUN DAVIS_FOLDER [--videos 60] [--maps 2,1,0] [--tag T]

For each held-out video of the DAVIS-layout folder (frames at a shorter side of at most 96 px),
the first frame's mask is propagated with the features of each map index of ``--maps`` (finest
first: 0 is convnet-small's stride-1 map, 1 its stride-2 map, 2 its stride-4 map), for the run's
backbone, its random init, and the pixel baseline at the same stride, with the protocol's
settings otherwise (``PropagationConfig``). J&F is the mean over objects of (J + F) / 2. Writes
benchmarks/results/b5_map_choice{TAG}.json.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

from ssrl.data.davis import davis_folder, read_video  # noqa: E402
from ssrl.evaluation.davis_metrics import video_scores  # noqa: E402
from ssrl.evaluation.propagation import (PropagationConfig, as_channels, backbone_maps, pixel_features,  # noqa: E402
                                         propagate_masks)
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("data")
    p.add_argument("--videos", type=int, default=60)
    p.add_argument("--maps", default="2,1,0")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    cfg, settings = run_config(args.run), PropagationConfig()
    nets = {"pretrained": load_backbone(args.run).eval(), "random_init": init_backbone(cfg).eval()}
    folder = davis_folder(args.data)
    indices = [int(i) for i in args.maps.split(",")]
    scores = {i: {who: [] for who in (*nets, "pixel")} for i in indices}
    strides = {}
    for name in folder.videos[:args.videos]:
        video = read_video(folder, name, 96)
        ids, true, annotated = [0, *video.objects], video.masks.numpy(), video.annotated.numpy()
        frames, short = as_channels(video.frames, cfg.in_channels), min(video.frames.shape[-2:])
        for i in indices:
            feats = {}
            for who, net in nets.items():
                feats[who], strides[i], _ = backbone_maps(net, frames, index=i)
            feats["pixel"] = pixel_features(video.frames, strides[i])
            for who, f in feats.items():
                pred = propagate_masks(f, video.masks[0], ids, settings.radius * short / strides[i], settings)
                scores[i][who] += list(video_scores(pred, true, annotated, video.objects).values())
    rows = [{"map": i, "stride": strides[i],
             **{f"{who}_J&F": round(float(np.mean([(j + f) / 2 for j, f in pairs])), 4) for who, pairs in s.items()}}
            for i, s in scores.items()]
    save(f"b5_map_choice{args.tag}", {"benchmark": "B5 propagation by map", "run": args.run, "data": args.data,
                                      "videos": min(args.videos, len(folder.videos)), "rows": rows})


if __name__ == "__main__":
    main()
