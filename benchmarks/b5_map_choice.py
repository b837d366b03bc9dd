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
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

from ssrl.backbones.maps import features_and_maps  # noqa: E402
from ssrl.data.davis import davis_folder, read_video  # noqa: E402
from ssrl.data.source import to_unit  # noqa: E402
from ssrl.evaluation.davis_metrics import video_scores  # noqa: E402
from ssrl.evaluation.propagation import PropagationConfig, as_channels, pixel_features, propagate_masks  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402


@torch.inference_mode()
def maps_at(net: torch.nn.Module, frames: torch.Tensor, index: int) -> torch.Tensor:
    return torch.cat([features_and_maps(net, to_unit(chunk))[1][index] for chunk in frames.split(16)]).float()


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
        frames = as_channels(video.frames, cfg.in_channels)
        for i in indices:
            feats = {who: maps_at(net, frames, i) for who, net in nets.items()}
            cells = feats["pretrained"].shape[-2]
            strides[i] = max(1, round(video.frames.shape[-2] / cells))
            feats["pixel"] = pixel_features(video.frames, strides[i])
            for who, f in feats.items():
                pred = propagate_masks(f, video.masks[0], ids, settings.radius * f.shape[-2], settings)
                scores[i][who] += list(video_scores(pred, true, annotated, video.objects).values())
    rows = [{"map": i, "stride": strides[i],
             **{f"{who}_J&F": round(float(np.mean([(j + f) / 2 for j, f in pairs])), 4) for who, pairs in s.items()}}
            for i, s in scores.items()]
    save(f"b5_map_choice{args.tag}", {"benchmark": "B5 propagation by map", "run": args.run, "data": args.data,
                                      "videos": min(args.videos, len(folder.videos)), "rows": rows})


if __name__ == "__main__":
    main()
