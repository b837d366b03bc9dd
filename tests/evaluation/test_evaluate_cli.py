"""``ssrl evaluate`` with the finetune and fewshot protocols, through the API and the command line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import ssrl
from ssrl.cli import app
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.evaluation.fewshot import TrainBudget

BUDGET = TrainBudget(epochs=2, batch_size=16, augment=False)


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    """A one-epoch rotation run on two classes of 12×12 images (bright left vs right half)."""
    root = tmp_path_factory.mktemp("evaluate")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (120, 12, 12), dtype=np.uint8)
    y = np.arange(120) % 2
    x[y == 0, :, :6] += 150
    x[y == 1, :, 6:] += 150
    np.savez(root / "two.npz", x=x, y=y)
    run = ssrl.pretrain(str(root / "two.npz"), "rotation", out=root / "run", epochs=1, batch_size=32, progress=False)
    return run, str(root / "two.npz")


def test_finetune_protocol_saves_its_result(run_and_data):
    run, data = run_and_data
    result = ssrl.evaluate(run, data, "finetune", budget=BUDGET)
    assert 0 <= result["top1"] <= 1 and 0 <= result["random_init_top1"] <= 1
    assert result["budget"]["epochs"] == 2
    saved = run / "evaluations" / "finetune-two.npz.json"
    assert json.loads(saved.read_text())["top1"] == result["top1"]
    assert "finetune-two.npz" in (run / "report.html").read_text()  # the report was rebuilt with it


def test_label_efficiency_curve_is_saved_with_its_plot(run_and_data):
    run, data = run_and_data
    result = ssrl.evaluate(run, data, "fewshot", label_fractions=[0.1, 0.5], draws=2, budget=BUDGET)
    assert [p["n_labels"] for p in result["points"]] == [10, 48]
    assert "top1_mean" not in result  # several settings: the figures are per point
    assert (run / "evaluations" / "label_efficiency-two.npz.png").stat().st_size > 1000
    assert json.loads((run / "evaluations" / "label_efficiency-two.npz.json").read_text())["points"]


def test_fewshot_json_from_the_command_line(run_and_data):
    run, data = run_and_data
    out = CliRunner().invoke(app, ["evaluate", str(run), "--data", data, "--protocol", "fewshot", "--per-class", "3",
                                   "--draws", "3", "--epochs", "2", "--no-augment", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    for key in ("top1", "scratch_top1", "random_init_top1"):
        assert len(result[key]) == 3 and 0 <= result[f"{key}_mean"] <= 1 and result[f"{key}_std"] >= 0
    assert result["n_labels"] == 6 and result["classifier"] == "linear probe on frozen features"
    assert (run / "evaluations" / "fewshot-two.npz.json").is_file()
    out = CliRunner().invoke(app, ["evaluate", str(run), "--data", data, "--protocol", "fewshot", "--per-class", "2",
                                   "--draws", "1", "--epochs", "1", "--no-augment", "--classifier", "finetune"])
    assert out.exit_code == 0, out.output
    assert (run / "evaluations" / "fewshot_finetune-two.npz.json").is_file()  # beside the linear one, not over it
    assert (run / "evaluations" / "fewshot-two.npz.json").is_file()


def test_bad_protocol_and_both_kinds_of_setting_are_refused(run_and_data):
    run, data = run_and_data
    with pytest.raises(SsrlError, match="knn, linear, finetune, fewshot"):
        ssrl.evaluate(run, data, "nope")
    with pytest.raises(SsrlError, match="not both"):
        ssrl.evaluate(run, data, "fewshot", label_fractions=[0.1], per_class=[2])


def test_fewshot_refuses_a_text_run(tmp_path):
    RunConfig(data="glosses.tsv", modality="text").to_yaml(tmp_path / "config.yaml")
    with pytest.raises(SsrlError, match="takes image or video runs, this is a text run"):
        ssrl.evaluate(tmp_path, "glosses.tsv", "fewshot")


def test_a_text_run_saves_its_evaluation_too(tmp_path):
    words = {"a": ["cat", "dog", "fish"], "b": ["car", "bus", "train"]}
    lines = ["label\ttext"] + [f"{c}\t" + " ".join(words[c][(i + j) % 3] for j in range(5))
                               for i, c in enumerate("ab" * 30)]
    (tmp_path / "d.tsv").write_text("\n".join(lines) + "\n")
    run = ssrl.pretrain(str(tmp_path / "d.tsv"), "masked_lm", out=tmp_path / "run", epochs=1, batch_size=16,
                        text_column="text", vocab_size=40, max_steps=1, progress=False)
    result = ssrl.evaluate(run, str(tmp_path / "d.tsv"), "knn", label_column="label")
    assert json.loads((run / "evaluations" / "knn-d.tsv-label.json").read_text())["top1"] == result["top1"]


def test_the_verdict_names_the_steps_the_run_lacked_when_the_floor_is_not_beaten(run_and_data):
    from ssrl.report.verdict import verdict

    run, _ = run_and_data  # 120 images, batch 32, one epoch: 3 optimizer steps
    lost = verdict(run, {"balanced_top1": 0.50, "random_init_balanced_top1": 0.60, "anisotropy": 0.999,
                         "warnings": ["the pretrained backbone's knn classifier predicted only 1 of the 2 classes"]})
    assert not lost["beats_floor"]
    assert lost["verdict"] == "pretraining did NOT beat random init: balanced accuracy 0.500 against 0.600"
    assert "it trained 3 optimizer steps; rotation needed about" in lost["causes"][0]
    assert any("mean pairwise cosine 0.9990" in c for c in lost["causes"])
    assert any("predicted only 1 of the 2" in c for c in lost["causes"])
    assert not any("few directions" in c for c in lost["causes"])  # no ranks given
    narrow = verdict(run, {"balanced_top1": 0.2, "random_init_balanced_top1": 0.7, "effective_rank": 4.45,
                           "random_init_effective_rank": 29.07})
    assert any("effective rank 4.5 against 29.1 at random init" in c for c in narrow["causes"])
    wide = verdict(run, {"balanced_top1": 0.2, "random_init_balanced_top1": 0.7, "effective_rank": 10.0,
                         "random_init_effective_rank": 29.07})
    assert not any("few directions" in c for c in wide["causes"])  # under 4 times less: not named
    won = verdict(run, {"balanced_top1": 0.7, "scratch_balanced_top1": 0.6})
    assert won["beats_floor"] and "than" not in won["verdict"] and "training from scratch" in won["verdict"]
    tuned = verdict(run, {"protocol": "finetune", "balanced_top1": 0.7, "random_init_balanced_top1": 0.6})
    assert tuned["verdict"] == "pretraining helped: balanced accuracy 0.700 against 0.600 for training from scratch (+0.100)"


def test_the_verdict_points_to_the_maps_where_a_methods_gain_was_measured(run_and_data, monkeypatch):
    from ssrl.pretext import get_method
    from ssrl.report.verdict import verdict

    run, _ = run_and_data
    lost = {"balanced_top1": 0.50, "random_init_balanced_top1": 0.60}
    assert not any("--layer" in c for c in verdict(run, lost)["causes"])  # rotation declares no such maps
    monkeypatch.setattr(get_method("rotation"), "gain_at_layers", (1, 2))
    hint = [c for c in verdict(run, lost)["causes"] if "--layer" in c]
    assert hint == ["rotation's pooled feature was under random init on Fashion-MNIST too, where its feature maps "
                    "1 and 2 beat random init's (BENCHMARKS.md, per-layer probes): read them with --layer 1"]
    assert not any("--layer" in c for c in verdict(run, {**lost, "layer": 1})["causes"])  # already a map read


def test_knn_from_the_command_line_prints_k_warnings_and_the_verdict(run_and_data, tmp_path):
    run, _ = run_and_data
    rng = np.random.default_rng(1)  # unbalanced: 100 images of class 0, 20 of class 1
    x = rng.integers(0, 60, (120, 12, 12), dtype=np.uint8)
    y = (np.arange(120) >= 100).astype(np.int64)
    x[y == 0, :, :6] += 150
    x[y == 1, :, 6:] += 150
    np.savez(tmp_path / "unbalanced.npz", x=x, y=y)
    out = CliRunner().invoke(app, ["evaluate", str(run), "--data", str(tmp_path / "unbalanced.npz"), "--protocol", "knn"])
    assert out.exit_code == 0, out.output
    assert "balanced accuracy" in out.output and "classes predicted (of 2)" in out.output
    assert "kNN: k = 16" in out.output  # the smallest class of the 80% training split
    assert "verdict: pretraining" in out.output
    saved = json.loads((run / "evaluations" / "knn-unbalanced.npz.json").read_text())
    assert saved["unbalanced"] and saved["k"] == 16 and 0 <= saved["random_init_balanced_top1"] <= 1
    assert {"anisotropy", "random_init_anisotropy", "effective_rank", "beats_floor"} <= set(saved)


def test_limit_keeps_the_first_rows_of_each_split_and_says_so(run_and_data):
    run, data = run_and_data
    result = ssrl.evaluate(run, data, "knn", limit=40, save=False)
    whole = ssrl.evaluate(run, data, "knn", save=False)
    assert (result["n_train"], result["n_test"]) == (40, 24) and whole["n_test"] == 24  # a 20 % test split: 24
    assert "--limit 40" in result["split"]
    with pytest.raises(SsrlError, match="--limit 0: must be a whole number of at least 1"):
        ssrl.evaluate(run, data, "knn", limit=0, save=False)


def test_image_size_reads_labeled_images_at_another_size(run_and_data, tmp_path):
    run, data = run_and_data
    out = CliRunner().invoke(app, ["evaluate", str(run), "--data", data, "--image-size", "20", "--limit", "30",
                                   "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["n_train"] == 30
    features = ssrl.embed(run, data, tmp_path / "f.npy", image_size=20, limit=7)
    assert features.shape[0] == 7 and np.load(tmp_path / "f.npy").shape == features.shape
    with pytest.raises(SsrlError, match="--image-size 1: must be a whole number of at least 2"):
        ssrl.evaluate(run, data, "knn", image_size=1, save=False)


def test_a_backbone_that_cannot_take_the_size_is_refused_naming_the_data(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "sixteen.npz"
    np.savez(data, x=rng.integers(0, 256, (64, 16, 16), dtype=np.uint8), y=np.arange(64) % 2)
    run = ssrl.pretrain(str(data), "mae", out=tmp_path / "mae", max_steps=1, batch_size=16, progress=False)
    with pytest.raises(SsrlError, match="sixteen.npz: the run's vit-mini backbone cannot take these images"):
        ssrl.evaluate(run, str(data), "knn", image_size=18, save=False)  # not a multiple of its 4 px patches
    assert ssrl.evaluate(run, str(data), "knn", image_size=24, save=False)["n_test"] > 0  # its positions interpolate


def test_layer_probes_a_map_of_both_backbones_and_is_saved_apart(run_and_data):
    """``--layer 2``: convnet-small's 64-channel stride-2 map of 12-px images (6 × 6 cells, all
    kept: 2,304 dimensions) for the pretrained and the random-init backbone alike."""
    run, data = run_and_data
    out = CliRunner().invoke(app, ["evaluate", str(run), "--data", data, "--protocol", "linear", "--layer", "2",
                                   "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["layer"] == 2 and result["dim"] == 64 * 6 * 6
    assert 0 <= result["top1"] <= 1 and 0 <= result["random_init_top1"] <= 1
    saved = json.loads((run / "evaluations" / "linear-two.npz-layer2.json").read_text())
    assert saved["top1"] == result["top1"]
    plain = ssrl.evaluate(run, data, "linear", save=False)
    assert "layer" not in plain and plain["dim"] == 128


def test_layer_is_refused_where_there_is_no_map_to_read(run_and_data):
    run, data = run_and_data
    with pytest.raises(SsrlError, match=r"\(here: protocol finetune, modality image\)"):
        ssrl.evaluate(run, data, "finetune", layer=1, budget=BUDGET, save=False)
    with pytest.raises(SsrlError, match="has 3 feature maps"):
        ssrl.evaluate(run, data, "knn", layer=4, save=False)
    with pytest.raises(SsrlError, match="whole number ≥ 1"):
        ssrl.evaluate(run, data, "knn", layer=0, save=False)
