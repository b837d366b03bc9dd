"""``ssrl bench`` on tiny data with a tiny budget: every method runs for the budget, is evaluated
the same way and ranked; a method that refuses the data stays in the table with its error."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ssrl.bench import bench
from ssrl.cli import app
from ssrl.errors import SsrlError
from ssrl.pretext import get_method
from ssrl.runs import run_config


@pytest.fixture(scope="module")
def labeled_npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (96, 12, 12), dtype=np.uint8)
    y = np.arange(96) % 2
    x[y == 0, :6] += 150  # top vs bottom half bright
    x[y == 1, 6:] += 150
    path = tmp_path_factory.mktemp("bench") / "two.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def test_bench_ranks_methods_and_keeps_failures(labeled_npz, tmp_path):
    result = bench(labeled_npz, ["rotation", "simclr", "colorization"], "2s", out=tmp_path / "b", batch_size=16,
                   progress=False)
    rows = result["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[-1]["method"] == "colorization" and rows[-1]["top1"] is None and "error" in rows[-1]
    done = rows[:2]
    assert {r["method"] for r in done} == {"rotation", "simclr"} and done[0]["balanced_top1"] >= done[1]["balanced_top1"]
    assert result["best"] == done[0]["method"]
    for r in done:
        assert 0 <= r["top1"] <= 1 and 0 <= r["random_init_top1"] <= 1 and 0 <= r["balanced_top1"] <= 1
        assert isinstance(r["beats_floor"], bool)
        assert r["steps"] >= 1 and r["pretrain_seconds"] < 30  # stopped by the 2 s budget, not 100 epochs
        need = get_method(r["method"]).min_steps  # 250 or 500 (their families'); 2 s rarely gives them
        assert r["enough_steps"] == (r["steps"] >= need) and ("warning" in r) == (not r["enough_steps"])
        if "warning" in r:
            assert f"{r['method']} got {r['steps']:,} optimizer steps" in r["warning"] and f"about {need}" in r["warning"]
        assert (tmp_path / "b" / r["method"] / "evaluations" / "knn-two.npz.json").is_file()
    assert rows[-1]["enough_steps"] is False and "warning" not in rows[-1]  # it failed: no steps to count
    assert json.loads((tmp_path / "b" / "bench.json").read_text())["rows"] == rows
    # rotation and simclr share convnet-small at seed 0: a random-init floor's features (train and
    # test) are kept once per precision in the bench's feature folder, beside each method's own two
    precisions = {run_config(tmp_path / "b" / r["method"]).precision for r in done}
    assert len(list((tmp_path / "b" / "features").glob("*.npy"))) == 2 * len(precisions) + 2 * len(done)
    with Image.open(result["plot"]) as image:
        assert image.format == "PNG"


def test_bench_command_prints_the_ranking_and_fails_on_a_failed_method(labeled_npz, tmp_path):
    def args(methods, out):
        return ["bench", "--data", labeled_npz, "--methods", methods, "--budget", "1s", "--batch-size", "16",
                "--out", str(tmp_path / out)]

    ok = CliRunner().invoke(app, args("rotation", "b"))
    assert ok.exit_code == 0, ok.output
    assert "rank" in ok.output and "rotation" in ok.output and "bench.png" in ok.output
    row = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"][0]
    assert ("warning: " + row["warning"] in ok.output) if "warning" in row else "warning:" not in ok.output
    failed = CliRunner().invoke(app, [*args("rotation,colorization", "c"), "--json"])
    assert isinstance(failed.exception, SsrlError) and "colorization" in str(failed.exception)
    assert json.loads(failed.output)["rows"][0]["method"] == "rotation"


def test_unknown_method_or_protocol_is_refused_before_anything_runs(labeled_npz, tmp_path):
    with pytest.raises(SsrlError, match="simclr"):
        bench(labeled_npz, ["rotation", "nope"], "1s", out=tmp_path / "b")
    with pytest.raises(SsrlError, match="knn or linear"):
        bench(labeled_npz, ["rotation"], "1s", protocol="fewshot", out=tmp_path / "b")
    with pytest.raises(SsrlError, match="budget"):
        bench(labeled_npz, ["rotation"], "soon", out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_bench_passes_image_size_and_skip_bad_to_every_run_and_evaluation(labeled_npz, tmp_path, monkeypatch):
    import ssrl.bench

    calls = []
    monkeypatch.setattr(ssrl.bench, "pretrain", lambda data, method, **kw: calls.append(("pretrain", kw)))
    monkeypatch.setattr(ssrl.bench, "evaluate", lambda run, data, protocol, **kw: calls.append(("evaluate", kw))
                        or {k: 0.5 for k in ("top1", "random_init_top1", "balanced_top1",
                                             "random_init_balanced_top1", "beats_floor", "split")})
    monkeypatch.setattr(ssrl.bench, "steps_done", lambda path: 10)
    ssrl.bench.bench(labeled_npz, ["simclr", "rotation"], "10s", out=tmp_path / "b", image_size=16, skip_bad=True,
                     progress=False)
    assert [kw["image_size"] for what, kw in calls if what == "pretrain"] == [16, 16]
    assert all(kw["skip_bad"] for _, kw in calls)


def test_methods_of_one_backbone_and_precision_share_their_random_init_floor(labeled_npz, tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="ssrl"):
        result = bench(labeled_npz, ["rotation", "swav"], "1s", out=tmp_path / "b", batch_size=16, progress=False)
    first, second = sorted(result["rows"], key=lambda r: r["method"])
    assert first["random_init_top1"] == second["random_init_top1"]
    assert len(list((tmp_path / "b" / "features").glob("*.npy"))) == 2 + 2 * 2  # one floor, two methods
    assert sum("from the cache" in r.getMessage() for r in caplog.records if r.name == "ssrl") == 2
