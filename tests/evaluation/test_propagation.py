"""Label propagation (``ssrl.evaluation.propagation``): exact answers with an oracle affinity on a
translated square, the affinity rule against a slow reference written from its description, the
pixel baseline, and ``ssrl.evaluate(run, DAVIS_FOLDER, "propagate")`` end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ssrl
from ssrl.backbones import build_backbone
from ssrl.cli_output import print_evaluation
from ssrl.errors import SsrlError
from ssrl.evaluation import propagation
from ssrl.evaluation.davis_metrics import video_scores
from ssrl.evaluation.propagation import (backbone_maps, choose_map, first_labels, pixel_features, propagate,
                                         propagate_masks, rgb_to_lab)
from tests.data.davis_folders import translated_square, write_davis

SIDE, SIZE = 32, 8


def oracle_features(corners, side: int = SIDE, size: int = SIZE, stride: int = 1) -> torch.Tensor:
    """Features (T, 1 + (size/stride)², side/stride, side/stride) that encode each cell's position
    relative to the square: one unit vector per cell of the square, another for every background
    cell, so that a cell's nearest context cells are exactly its counterparts."""
    cells, n = side // stride, size // stride
    out = torch.zeros(len(corners), 1 + n * n, cells, cells)
    out[:, 0] = 1
    for t, (y, x) in enumerate(corners):
        for i in range(n):
            for j in range(n):
                out[t, :, y // stride + i, x // stride + j] = 0
                out[t, 1 + i * n + j, y // stride + i, x // stride + j] = 1
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_an_oracle_affinity_propagates_a_translated_square_exactly(stride):
    """J = F = 1 on every scored frame, at the feature resolution (stride 1) and from 2-px cells
    upsampled to the frame (the square's corners lie on the cell grid). From 4-px cells bilinear
    upsampling rounds a 2-cell square's corners off (0.625² < 0.5): J = 60/64 there, as it would
    be for any method."""
    _, masks, corners = translated_square(frames=6, side=SIDE, size=SIZE, start=(4, 4), step=(2, 2))
    feats = oracle_features(corners, stride=stride)
    pred = propagate_masks(feats, torch.from_numpy(masks[0]), [0, 1], radius=0.2 * SIDE / stride)
    assert pred.shape == masks.shape
    assert video_scores(pred, masks, np.ones(6, bool), [1]) == {1: (1.0, 1.0)}
    assert (pred == masks).all()


def reference_propagate(features, first, context, radius, topk, temperature):
    """Position by position, as the papers describe it: the first frame and the last ``context``
    frames; context positions within ``radius``; the top-k cosines; softmax / temperature."""
    t_all, _, h, w = features.shape
    f = torch.nn.functional.normalize(features, dim=1)
    labels = [first]
    for t in range(1, t_all):
        frames = [0] + [s for s in range(t - context, t) if s >= 1]
        out = torch.zeros_like(first)
        for y in range(h):
            for x in range(w):
                cands = [(float(f[t, :, y, x] @ f[s, :, v, u]), s, v, u) for s in frames for v in range(h)
                         for u in range(w) if (v - y) ** 2 + (u - x) ** 2 <= radius ** 2]
                cands.sort(key=lambda c: -c[0])
                top = cands[:topk]
                weights = torch.softmax(torch.tensor([c[0] for c in top]) / temperature, 0)
                for wgt, (_, s, v, u) in zip(weights, top):
                    out[:, y, x] += wgt * labels[s][:, v, u]
        labels.append(out)
    return torch.stack(labels)


@pytest.mark.parametrize("context,radius,topk,temperature", [(2, 1.5, 3, 0.07), (5, 10.0, 10, 0.5), (1, 0.0, 4, 1.0)])
def test_propagation_matches_a_reference_written_from_the_protocol(context, radius, topk, temperature, monkeypatch):
    g = torch.Generator().manual_seed(0)
    features = torch.randn(5, 6, 4, 5, generator=g)
    first = torch.softmax(torch.randn(3, 4, 5, generator=g), 0)
    fast = propagate(features, first, context=context, radius=radius, topk=topk, temperature=temperature)
    slow = reference_propagate(features, first, context, radius, topk, temperature)
    assert torch.allclose(fast, slow, atol=1e-5)
    monkeypatch.setattr(propagation, "AFFINITY_ELEMENTS", 7)  # a few target positions at a time
    chunked = propagate(features, first, context=context, radius=radius, topk=topk, temperature=temperature)
    assert torch.allclose(chunked, fast, atol=1e-6)


@pytest.mark.parametrize("radius", [1.0, 2.5, 20.0])
def test_targets_taken_a_tile_at_a_time_give_the_reference(radius, monkeypatch):
    """A map of several tiles (3 × 3 positions each, edges cut off): each tile's affinities to the
    context it can reach only give every position's labels as the protocol defines them."""
    g = torch.Generator().manual_seed(1)
    features = torch.randn(4, 5, 8, 7, generator=g)
    first = torch.softmax(torch.randn(2, 8, 7, generator=g), 0)
    monkeypatch.setattr(propagation, "TILE", 3)
    tiled = propagate(features, first, context=2, radius=radius, topk=4, temperature=0.1)
    slow = reference_propagate(features, first, 2, radius, 4, 0.1)
    assert torch.allclose(tiled, slow, atol=1e-5)


def test_a_match_beyond_the_radius_is_not_used():
    """One row of cells: frame 1's cell 5 matches frame 0's cell 0 exactly, 5 cells away; within a
    radius of 2 it takes the label of its best neighbour in reach instead."""
    features = torch.zeros(2, 2, 1, 6)
    features[:, 1] = 1                       # every cell alike ...
    features[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    features[1, :, 0, 5] = torch.tensor([1.0, 0.0])  # ... but these two
    first = torch.zeros(2, 1, 6)
    first[1, 0, 0], first[0, 0, 1:] = 1, 1   # label 1 at cell 0 only
    far = propagate(features, first, radius=10, topk=1)
    near = propagate(features, first, radius=2, topk=1)
    assert far[1, :, 0, 5].tolist() == [0.0, 1.0] and near[1, :, 0, 5].tolist() == [1.0, 0.0]


def test_first_labels_are_the_fractions_of_each_cell():
    mask = torch.zeros(4, 4, dtype=torch.uint8)
    mask[0, 0], mask[3, 3] = 1, 2
    labels = first_labels(mask, [0, 1, 2], (2, 2))
    assert labels[:, 0, 0].tolist() == [0.75, 0.25, 0.0] and labels[:, 1, 1].tolist() == [0.75, 0.0, 0.25]


def test_lab_of_known_colours():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T[:, :, None]  # (3, 3, 1)
    lab = rgb_to_lab(rgb)[:, :, 0].T
    assert torch.allclose(lab[0], torch.tensor([100.0, 0.0, 0.0]), atol=0.05)
    assert torch.allclose(lab[1], torch.zeros(3), atol=1e-3)
    assert torch.allclose(lab[2], torch.tensor([53.24, 80.09, 67.20]), atol=0.1)  # sRGB red, D65


def test_the_pixel_baseline_tracks_a_coloured_square():
    """Colour alone tracks a red square on blue, exactly from single pixels; from 2-px cells the
    cells the moving edge cuts blur it (the square's corners leave the grid: steps of 1 and 2 px)."""
    frames, masks, _ = translated_square(frames=8, side=SIDE, size=SIZE, step=(1, 2))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)
    for stride, least in ((1, 1.0), (2, 0.85)):
        feats = pixel_features(x, stride)
        assert feats.shape == (8, 3 * stride * stride, SIDE // stride, SIDE // stride)
        pred = propagate_masks(feats, torch.from_numpy(masks[0]), [0, 1], radius=0.2 * SIDE / stride)
        j, f = video_scores(pred, masks, np.ones(8, bool), [1])[1]
        assert j >= least and f >= least, (stride, j, f)


def test_the_map_read_has_about_the_papers_60_cells_across():
    assert choose_map([60, 30, 15]) == 0                    # 480-px frames' stride 8 in the papers
    assert choose_map([96, 48, 24]) == 1                    # convnet-small at 96 px: stride 2
    assert choose_map([64, 32, 16]) == 0                    # ... at 64 px: stride 1
    assert choose_map([480, 240, 120]) == 2                 # ... at 480 px: stride 4
    assert choose_map([80, 40]) == 0                        # a tie (20 cells either way): the finer
    assert choose_map([4, 2]) == 0                          # all coarser: the finest
    net = build_backbone("convnet-small", 3, 32)
    feats, stride, what = backbone_maps(net, torch.zeros(3, 3, 200, 280, dtype=torch.uint8), batch=2)
    assert feats.shape == (3, 128, 50, 70) and stride == 4 and "stride 4, 128 channels" in what
    resnet = build_backbone("resnet18", 3, 64)  # small images' stem (no max-pool): layer3 is at stride 4
    feats, stride, what = backbone_maps(resnet, torch.zeros(1, 3, 240, 320, dtype=torch.uint8))
    assert feats.shape == (1, 256, 60, 80) and stride == 4 and what.startswith("h_θ's map 3 of 4")


@pytest.fixture(scope="module")
def davis(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis") / "DAVIS"
    one = translated_square(frames=6, side=SIDE, step=(2, 2))
    two = translated_square(frames=5, side=SIDE, start=(20, 4), step=(-2, 3), object_id=2)
    return write_davis(root, {"a": one[:2], "b": two[:2]})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "clips.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (16, 8, 3, 16, 16), dtype=np.uint8))
    return ssrl.pretrain(str(path), "arrow_of_time", out=tmp_path_factory.mktemp("runs") / "run", max_steps=2,
                         batch_size=8, progress=False)


def test_evaluate_propagate_end_to_end(run, davis, capsys):
    result = ssrl.evaluate(run, davis, "propagate")
    assert (result["n_videos"], result["n_objects"]) == (2, 2) and len(result["per_video"]) == 2
    for prefix in ("", "random_init_", "pixel_"):
        j, f = result[prefix + "J"], result[prefix + "F"]
        assert 0 <= j <= 1 and 0 <= f <= 1 and result[prefix + "J&F"] == pytest.approx((j + f) / 2)
    assert result["pixel_J"] > 0.5  # a red square on blue
    assert "stride 1" in result["features"]  # 32-px frames: the finest map is nearest 60 cells and "J&F" in result["verdict"] and "pixel baseline" in result["verdict"]
    saved = json.loads((run / "evaluations" / "propagate-DAVIS.json").read_text())
    assert saved["J&F"] == result["J&F"] and saved["per_video"][0]["video"] == "a"
    print_evaluation(result, "propagate", 3)
    out = capsys.readouterr().out
    assert "J (region)" in out and "pixel colours" in out and "random init" in out
    assert "pixel colours" in (run / "report.html").read_text()
    assert result["plot"].endswith("propagate-DAVIS.png") and Path(result["plot"]).stat().st_size > 1000


def test_a_pixel_baseline_on_grey_frames_says_what_it_can_see(run, davis, tmp_path):
    """At 1-px cells a grey frame's pixel feature is one lightness, whose cosine is ±1: the result
    warns of it for grey videos, and not for colour ones."""
    assert ssrl.evaluate(run, davis, "propagate", save=False)["warnings"] == []
    frames, masks, _ = translated_square(frames=6, side=SIDE, step=(2, 2))
    luma = (frames.astype(float) @ [0.299, 0.587, 0.114]).round().astype(np.uint8)
    grey = write_davis(tmp_path / "G", {"a": (np.repeat(luma[..., None], 3, axis=-1), masks), "b": (frames, masks)})
    result = ssrl.evaluate(run, grey, "propagate", save=False)
    assert len(result["warnings"]) == 1 and "1 of the 2 videos scored are grey" in result["warnings"][0]


def test_propagate_options_and_limit(run, davis):
    result = ssrl.evaluate(run, davis, "propagate", limit=1, image_size=16, save=False)
    assert result["n_videos"] == 1 and "(--limit)" in result["split"] and "16 px" in result["split"]
    with pytest.raises(SsrlError, match="--label-column: not an option of the propagate protocol"):
        ssrl.evaluate(run, davis, "propagate", label_column="digit", save=False)
    with pytest.raises(SsrlError, match="--test-data: not an option of the propagate protocol"):
        ssrl.evaluate(run, davis, "propagate", test_data=davis, save=False)


def test_videos_with_nothing_to_score_are_listed_not_scored(run, tmp_path):
    frames, masks, _ = translated_square(frames=4, side=SIDE)
    empty = np.zeros_like(masks)
    root = write_davis(tmp_path / "D", {"a": (frames, masks), "b": (frames, empty), "c": (frames, masks)},
                       unannotated={"c": (1, 2, 3)})
    result = ssrl.evaluate(run, root, "propagate", save=False)
    assert result["n_videos"] == 1 and [r.get("scored_frames") for r in result["per_video"]] == [2, 2, 0]
    nothing = write_davis(tmp_path / "E", {"b": (frames, empty), "c": (frames, masks)}, unannotated={"c": (1, 2, 3)})
    with pytest.raises(SsrlError, match="none of its 2 video"):
        ssrl.evaluate(run, nothing, "propagate", save=False)


def test_a_gray_image_run_is_evaluated_frame_by_frame(davis, tmp_path):
    """An image run's h_θ reads each frame as an image; a gray run reads the frames' luma."""
    images = np.random.default_rng(1).integers(0, 256, (32, 1, 16, 16), dtype=np.uint8)
    run = ssrl.pretrain(images, "rotation", out=tmp_path / "image-run", max_steps=2, batch_size=16, progress=False)
    result = ssrl.evaluate(run, davis, "propagate", save=False)
    assert result["n_objects"] == 2 and 0 <= result["J"] <= 1 and 0 <= result["random_init_F"] <= 1


def test_a_backbone_without_maps_is_refused(davis, tmp_path):
    path = tmp_path / "clips.npz"
    np.savez(path, x=np.random.default_rng(2).integers(0, 256, (8, 8, 3, 16, 16), dtype=np.uint8))
    run = ssrl.pretrain(str(path), "arrow_of_time", backbone="r2plus1d-mini", out=tmp_path / "clip-run",
                        max_steps=1, batch_size=8, progress=False)
    with pytest.raises(SsrlError, match="r2plus1d-mini backbone declares none"):
        ssrl.evaluate(run, davis, "propagate", save=False)
