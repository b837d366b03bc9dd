"""Video runs end to end: pretraining on a tiny video array, then kNN, a linear probe, fine-tuning,
few-shot (beside training from scratch) and ``embed`` through the video modality (one vector per
video: the frames' mean, or with ``pool="trend"`` their mean and trend, twice as wide)."""

import numpy as np
import pytest
import torch

import ssrl
from ssrl.errors import SsrlError
from ssrl.modality import modality_of
from ssrl.runs import run_config

N, T, SIDE = 24, 8, 16


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """24 labeled grayscale videos (N, T, H, W): 4-d, read as videos since 8 frames are no channels."""
    path = tmp_path_factory.mktemp("videos") / "clips.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (N, T, SIDE, SIDE), dtype=np.uint8), y=np.arange(N) % 3)
    return str(path)


@pytest.fixture(scope="module")
def run(videos, tmp_path_factory):
    # float32 on every machine: the poolings below are compared to float32 rounding, and `auto` trains
    # arrow_of_time (and extracts its features) in bf16 where the CPU has AMX or AVX512-BF16
    return ssrl.pretrain(videos, "arrow_of_time", out=tmp_path_factory.mktemp("runs") / "run", max_steps=2,
                         batch_size=8, progress=False, precision="32-true")


def test_video_data_is_recognised():
    assert modality_of("moving-digits").name == "video"


def test_pretrain_saves_an_image_backbone_for_frames(run):
    cfg = run_config(run)
    assert (cfg.modality, cfg.backbone, cfg.image_size, cfg.in_channels) == ("video", "convnet-small", SIDE, 1)
    assert ssrl.load_backbone(run).dim == 128


@pytest.mark.parametrize("protocol", ["knn", "linear"])
def test_evaluate_scores_one_vector_per_video(run, videos, protocol):
    result = ssrl.evaluate(run, videos, protocol, save=False)
    assert (result["n_train"], result["n_test"]) == (18, 6) and "stratified" in result["split"]
    assert 0 <= result["top1"] <= 1 and 0 <= result["random_init_top1"] <= 1


def test_finetune_trains_the_frame_backbone_through_its_video_vectors(run, videos):
    from ssrl.evaluation.fewshot import TrainBudget

    result = ssrl.evaluate(run, videos, "finetune", save=False, budget=TrainBudget(epochs=1))
    assert (result["n_train"], result["n_test"]) == (18, 6)
    assert 0 <= result["top1"] <= 1 and 0 <= result["random_init_top1"] <= 1


def test_fewshot_on_videos_runs_beside_training_from_scratch(run, videos):
    from ssrl.evaluation.fewshot import TrainBudget

    result = ssrl.evaluate(run, videos, "fewshot", save=False, per_class=[2], draws=1,
                           budget=TrainBudget(epochs=1))
    assert {"top1_mean", "random_init_top1_mean", "scratch_top1_mean"} <= result.keys()
    assert 0 <= result["scratch_top1_mean"] <= 1


def test_embed_writes_one_vector_per_video(run, videos, tmp_path):
    features = ssrl.embed(run, videos, tmp_path / "f.npy", limit=10)
    assert features.shape == (10, 128) and np.isfinite(features).all()
    assert np.load(tmp_path / "f.npy").shape == (10, 128)
    trend = ssrl.embed(run, videos, limit=10, pool="trend")
    assert trend.shape == (10, 2 * 128) and np.allclose(trend[:, :128], features, atol=1e-5)


def test_order_pooling_is_the_frames_features_in_time_order_and_only_for_frozen_probes(run, videos):
    from ssrl.backbones.frames import FramePooled, per_frame
    from ssrl.runs import load_backbone

    backbone = load_backbone(run).eval()
    clips = torch.rand(3, 4, 1, 16, 16)
    with torch.no_grad():
        frames = per_frame(backbone, clips)                                       # (3, 4, 128)
        ordered = FramePooled(backbone, "order")(clips)
        reversed_ = FramePooled(backbone, "order")(clips.flip(1))
    assert ordered.shape == (3, 4 * 128) and torch.allclose(ordered, frames.flatten(1))
    assert torch.allclose(reversed_, frames.flip(1).flatten(1))  # the order is kept, not averaged away
    assert FramePooled(backbone, "order").dim is None
    embedded = ssrl.embed(run, videos, limit=5, pool="order")
    assert embedded.shape[0] == 5 and embedded.shape[1] % 128 == 0 and embedded.shape[1] > 128
    result = ssrl.evaluate(run, videos, "knn", save=False, pool="order")
    assert result["pool"] == "order" and 0 <= result["top1"] <= 1
    with pytest.raises(SsrlError, match="--pool order: its width grows with the clip's frames"):
        ssrl.evaluate(run, videos, "finetune", save=False, pool="order")


def test_the_trend_pooling_is_recorded_and_saved_apart_and_an_unknown_one_refused(run, videos):
    mean, trend = ssrl.evaluate(run, videos, "knn"), ssrl.evaluate(run, videos, "knn", pool="trend")
    assert (mean["pool"], trend["pool"]) == ("mean", "trend") and mean["saved"] != trend["saved"]
    with pytest.raises(SsrlError, match="unknown pooling 'max' for videos"):
        ssrl.evaluate(run, videos, "knn", save=False, pool="max")


def test_image_methods_are_refused(videos, tmp_path):
    with pytest.raises(SsrlError, match="video data, but rotation is a method for image"):
        ssrl.pretrain(videos, "rotation", out=tmp_path / "r", max_steps=1, batch_size=8, progress=False)


def test_the_frame_backbone_is_evaluated_on_still_images(run, tmp_path):
    """Labeled images are one-frame videos to a video run: its h_θ transfers to image tasks."""
    path = tmp_path / "images.npz"
    rng = np.random.default_rng(1)
    np.savez(path, x=rng.integers(0, 256, (30, 1, SIDE, SIDE), dtype=np.uint8), y=np.arange(30) % 3)
    result = ssrl.evaluate(run, str(path), "knn", save=False)
    assert (result["n_train"], result["n_test"]) == (24, 6) and "one-frame videos" in result["split"]
    assert 0 <= result["top1"] <= 1


def test_each_labelling_of_the_same_videos_is_saved_apart(run, tmp_path):
    """Probes of two labellings of one data set (an .npz's y and its 'other' key) keep a file each."""
    path = tmp_path / "two.npz"
    rng = np.random.default_rng(2)
    np.savez(path, x=rng.integers(0, 256, (N, T, SIDE, SIDE), dtype=np.uint8), y=np.arange(N) % 3,
             other=np.arange(N) % 2)
    first = ssrl.evaluate(run, str(path), "knn")
    second = ssrl.evaluate(run, str(path), "knn", label_column="other")
    assert first["saved"] != second["saved"] and second["saved"].endswith("knn-two.npz-other.json")
    assert (run / "evaluations" / "knn-two.npz.json").is_file()


def test_embed_per_clip_cuts_every_video_into_the_runs_clips(run, tmp_path):
    import csv

    import torch

    longer = tmp_path / "long.npy"  # 3 videos of 20 frames: 2 clips of the run's 8 frames each, 4 left over
    x = np.random.default_rng(1).integers(0, 256, (3, 20, SIDE, SIDE), dtype=np.uint8)
    np.save(longer, x)
    features = ssrl.embed(run, str(longer), tmp_path / "clips.npy", per_clip=True)
    assert features.shape == (6, 128)
    rows = list(csv.DictReader(open(tmp_path / "clips.clips.csv")))  # OUT.clips.csv beside OUT.npy
    assert [(r["video"], r["first_frame"]) for r in rows] == [(v, s) for v in "012" for s in ("0", "8")]
    second = tmp_path / "second.npy"  # video 1's second clip alone, embedded as a video of its own
    np.save(second, x[1:2, 8:16])
    alone = ssrl.embed(run, str(second))
    torch.testing.assert_close(torch.from_numpy(features[3]), torch.from_numpy(alone[0]), rtol=1e-4, atol=1e-5)


def test_per_clip_is_for_video_runs(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (32, 12, 12), dtype=np.uint8))
    image_run = ssrl.pretrain(str(path), "rotation", out=tmp_path / "r", max_steps=1, batch_size=16, progress=False)
    with pytest.raises(SsrlError, match="--per-clip"):
        ssrl.embed(image_run, str(path), per_clip=True)
