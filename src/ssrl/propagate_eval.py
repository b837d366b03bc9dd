"""``ssrl evaluate RUN --data DAVIS_FOLDER --protocol propagate``: a run's h_θ as a tracker.

Each video's first-frame mask is propagated through the video by the affinities of three sets
of features (``ssrl.evaluation.propagation``): the run's pretrained backbone, the same backbone at
its random init (the floor), and the pixels' colours (the baseline that needs no learning). The
masks are scored with DAVIS's region similarity J and contour accuracy F
(``ssrl.evaluation.davis_metrics``): each the mean over all objects of all videos, each object's
the mean over its scored frames; J&F is their mean. Any run whose backbone declares spatial maps
(``ssrl.backbones.maps``: convnet-small, the ResNets) can be evaluated: a video run's h_θ is an
image backbone applied to every frame, and an image run's works on frames as on images.
"""

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ssrl.backbones.maps import MapsUnavailable, has_maps
from ssrl.data.davis import WORKING_SIDE, SegmentedVideo, davis_folder, read_video
from ssrl.errors import SsrlError
from ssrl.evaluation.davis_metrics import scored_frames, video_scores
from ssrl.evaluation.propagation import (PropagationConfig, as_channels, backbone_maps, pixel_features,
                                         propagate_masks)
from ssrl.evaluation.propagation_plot import plot_propagation
from ssrl.evaluation.records import evaluation_path
from ssrl.notices import interactive
from ssrl.ranges import check_count
from ssrl.report.verdict import verdict
from ssrl.runs import init_backbone, load_backbone, run_config

PIXEL = "pixel_"  # the prefix of the pixel baseline's figures (the floor's is random_init_)
WHO = (("", "pretrained"), ("random_init_", "random init"), (PIXEL, "pixel colours"))
GREY_PIXELS = ("the pixel baseline: {grey} of the {videos} videos scored are grey, and at 1-px cells a grey cell "
               "holds one lightness, whose cosine with another only says whether both are lighter or darker "
               "than the video's mean; it follows two-tone objects (a light shape on a dark ground), not "
               "textures, so on textured grey videos it is a weak floor")


def propagate_evaluation(run: str | Path, data: str, *, limit: int | None = None, progress: bool = False,
                         image_size: int | None = None, settings: PropagationConfig = PropagationConfig(),
                         save: bool = False, **options) -> dict:
    """J, F and J&F of label propagation on the DAVIS-layout folder ``data`` (its first ``limit``
    videos if given; frames at a shorter side of ``image_size``, default ``WORKING_SIDE``) for the
    run's backbone (keys ``J``, ...), its random init (``random_init_J``, ...) and the pixel
    baseline (``pixel_J``, ...), with one record per video in ``per_video`` and the verdict. With
    ``save``, the masks of the first video are drawn into ``RUN/evaluations/propagate-DATA.png``
    (its path in ``"plot"``; ``transfer.evaluate`` saves the JSON beside it)."""
    from ssrl.transfer import floor_name  # the same layer, which imports this module

    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise SsrlError(f"--{given[0].replace('_', '-')}: not an option of the propagate protocol (it takes "
                        "--image-size, the frames' shorter side, and --limit, the number of videos)")
    check_count(image_size, "--image-size", low=8)
    side = image_size or WORKING_SIDE
    cfg = run_config(run)
    folder = davis_folder(data)
    names = folder.videos[:limit] if limit else folder.videos
    backbones = {"": load_backbone(run), "random_init_": init_backbone(cfg)}
    if not has_maps(backbones[""]):
        raise MapsUnavailable(f"{run}: the propagate protocol reads h_θ's spatial feature maps, and the run's "
                              f"{cfg.backbone} backbone declares none (convnet-small and the ResNets do)")
    per_video, scores, what, sample, grey_cells = [], {prefix: [] for prefix, _ in WHO}, "", None, 0
    for name in tqdm(names, desc="propagating", disable=not (progress and interactive())):
        video = read_video(folder, name, side)
        scored = len(scored_frames(video.annotated.numpy()))
        record = {"video": name, "frames": len(video.frames), "objects": len(video.objects), "scored_frames": scored}
        per_video.append(record)
        if not video.objects or not scored:  # nothing to propagate or to score: listed, not scored
            continue
        by_backbone, what, predicted, stride = _video(video, backbones, cfg.in_channels, settings)
        grey_cells += stride == 1 and _is_grey(video.frames)
        sample = sample or (video, predicted)
        for prefix, per_object in by_backbone.items():
            scores[prefix] += per_object
            record.update(_figures(per_object, prefix))
    if not scores[""]:
        raise SsrlError(f"{data}: none of its {len(names)} video(s) has both an object in its first frame's mask and "
                        "annotated frames to score (DAVIS scores the annotated frames but the first and the last)")
    result = {"run": str(run), "data": data, "protocol": "propagate",
              **({"floor": floor_name(cfg)} if cfg.init != "random" else {}),
              "split": f"{folder.describe()}{f'; the first {len(names):,} (--limit)' if limit else ''}; frames at a "
                       f"shorter side of at most {side} px; J and F at the masks' own size on the annotated frames "
                       "but the first (given) and the last, as DAVIS scores them",
              "n_videos": sum(1 for r in per_video if "J" in r), "n_objects": len(scores[""]),
              "features": what, "pixel_features": "Lab values of each cell's pixels, minus the video's mean",
              **{k: v for prefix, _ in WHO for k, v in _figures(scores[prefix], prefix).items()},
              "settings": asdict(settings), "per_video": per_video}
    result["warnings"] = [GREY_PIXELS.format(grey=grey_cells, videos=result["n_videos"])] if grey_cells else []
    result.update(verdict(run, result, "J&F"))
    if save:
        result["plot"] = str(_plot(run, data, *sample))
    beats = result["J&F"] > result[PIXEL + "J&F"]
    result["verdict"] += (f"; {'above' if beats else 'NOT above'} the pixel baseline's J&F "
                          f"{result[PIXEL + 'J&F']:.3f}")
    return result


def _is_grey(frames: torch.Tensor) -> bool:
    """Whether uint8 frames (T, 3, H, W) carry no colour (their three channels equal)."""
    return bool((frames[:, 0] == frames[:, 1]).all() and (frames[:, 1] == frames[:, 2]).all())


def _video(video: SegmentedVideo, backbones: dict, channels: int,
           settings: PropagationConfig) -> tuple[dict[str, list], str, dict[str, np.ndarray], int]:
    """({prefix: [(J, F) per object]} of one video, which map of h_θ was read, {prefix: the
    predicted ids (T, H, W)}, the map's stride). The pixel baseline's cells are as large as the
    map's (its stride)."""
    ids, true = [0, *video.objects], video.masks.numpy()
    annotated, short = video.annotated.numpy(), min(video.frames.shape[-2:])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    features, stride, what = {}, None, ""
    for prefix, backbone in backbones.items():
        features[prefix], stride, what = backbone_maps(backbone, as_channels(video.frames, channels))
    features[PIXEL] = pixel_features(video.frames, stride)
    scores, predicted = {}, {}
    for prefix, feats in features.items():
        predicted[prefix] = propagate_masks(feats.to(device), video.masks[0], ids, settings.radius * short / stride,
                                            settings)
        scores[prefix] = list(video_scores(predicted[prefix], true, annotated, video.objects).values())
    return scores, what, predicted, stride


def _plot(run: str | Path, data: str, video: SegmentedVideo, predicted: dict[str, np.ndarray]) -> Path:
    """The propagated masks of ``video`` beside its true ones, as ``plot_propagation`` draws them."""
    path = evaluation_path(run, "propagate", data, ".png")
    path.parent.mkdir(exist_ok=True)
    rows = {"true": video.masks.numpy(), **{who: predicted[prefix] for prefix, who in WHO}}
    return plot_propagation(video.frames, rows, path, f"{video.name}: masks propagated from frame 0")


def _figures(per_object: list[tuple[float, float]], prefix: str) -> dict:
    """``{prefix + "J": mean J, prefix + "F": ..., prefix + "J&F": ...}`` over (J, F) pairs."""
    j, f = (float(np.nanmean([p[i] for p in per_object])) for i in (0, 1))
    return {prefix + "J": j, prefix + "F": f, prefix + "J&F": (j + f) / 2}
