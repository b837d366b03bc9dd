import base64
import io
import json
import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ssrl.components.image_grid import save_image_rows
from ssrl.errors import SsrlError
from ssrl.report import write_report
from ssrl.report.embedding_map import CACHE, project
from tests.report.runs import make_run, two_class_npz

SECTIONS = ["configuration", "training-curves", "knn-monitor", "embedding-map", "method-pictures", "evaluations"]


def sections(html: str) -> dict[str, str]:
    found = re.findall(r'<section id="([a-z-]+)">(.*?)</section>', html, re.S)
    assert [sid for sid, _ in found] == SECTIONS
    return dict(found)


def images(html: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_full_run_every_section_has_its_content(tmp_path):
    data = two_class_npz(tmp_path / "two.npz")
    run = make_run(tmp_path / "run", data, monitor=data)
    save_image_rows(run / "reconstructions.png", {"input": torch.rand(4, 1, 12, 12), "prediction": torch.rand(4, 1, 12, 12)})
    (run / "evaluations").mkdir()
    (run / "evaluations" / "knn-two.npz.json").write_text(json.dumps({"top1": 0.93, "random_init_top1": 0.61}))
    Image.new("RGB", (60, 40), "white").save(run / "evaluations" / "label_efficiency-two.npz.png")
    html = write_report(run).read_text()
    body = sections(html)
    assert 'class="missing"' not in html
    assert "<td>method</td><td>rotation</td>" in body["configuration"]
    assert "figures: loss." in body["training-curves"] and "last: 0.800" in body["knn-monitor"]
    assert "t-SNE of 60 of 60 images of" in body["embedding-map"]
    assert "rows, top to bottom: input / prediction" in body["method-pictures"]
    assert "<td>0.9300</td><td>0.6100</td>" in body["evaluations"] and "label_efficiency-two.npz.png" in body["evaluations"]
    shown = images(html)
    assert len(shown) == 5 and all(im.format == "PNG" and im.width > 20 for im in shown)
    # self-contained: nothing fetched from anywhere, no script
    assert not re.search(r"https?:|<script|@import|url\(", html)
    assert re.findall(r'(?:src|href)="([a-z]+):', html) == ["data"] * 6


def test_missing_data_gives_one_visible_line_per_section(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path / "plain.npz", labels=False), metrics=None)
    body = sections(write_report(run).read_text())
    reasons = {sid: re.findall(r'<p class="missing">(.*?)</p>', html) for sid, html in body.items()}
    assert reasons["configuration"] == []
    assert reasons["training-curves"] == ["No metrics.csv: the run has logged nothing yet."]
    assert "no --monitor" in reasons["knn-monitor"][0]
    assert "has no labels" in reasons["embedding-map"][0]
    assert reasons["method-pictures"][0].startswith("No pictures: rotation draws none")
    assert reasons["evaluations"][0].startswith("No evaluations yet")


def test_unlabeled_data_is_mapped_with_the_monitor_labels(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path / "plain.npz", labels=False),
                   monitor=two_class_npz(tmp_path / "labeled.npz", n=40))
    assert "t-SNE of 40 of 40 images of" in sections(write_report(run).read_text())["embedding-map"]


def test_the_map_is_cached_until_the_backbone_changes(tmp_path, monkeypatch):
    data = two_class_npz(tmp_path / "two.npz")
    run = make_run(tmp_path / "run", data)
    write_report(run)
    cached = np.load(run / CACHE)["coords"]
    monkeypatch.setattr("ssrl.report.embedding_map.project", lambda f: pytest.fail("recomputed"))
    write_report(run)  # cheap: the evaluation commands may call it after every result
    (run / "backbone.safetensors").touch()
    monkeypatch.setattr("ssrl.report.embedding_map.project", lambda f: (np.zeros((len(f), 2)), "PCA"))
    assert "PCA of 60" in write_report(run).read_text()
    assert cached.shape == (60, 2)


def test_projection_falls_back_from_umap_to_tsne_to_pca(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    features = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    coords, technique = project(features)
    assert technique == "t-SNE" and coords.shape == (30, 2)
    coords, technique = project(features[:5])
    assert technique == "PCA" and coords.shape == (5, 2)
    # PCA keeps the first two principal directions: its coordinates span the top of the spectrum
    centred = features[:5] - features[:5].mean(0)
    top2 = np.linalg.svd(centred, compute_uv=False)[:2]
    np.testing.assert_allclose(np.linalg.svd(coords, compute_uv=False), top2, rtol=1e-4)


def test_damaged_files_cost_their_section_a_line_naming_them(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path / "two.npz"), metrics="epoch,loss_step,step\n0,oops,9\n")
    (run / "backbone.json").write_text("{broken")
    Image.new("L", (8, 8)).save(run / "rows.png")
    (run / "rows.json").write_text('{"rows": [}')
    (run / "broken.png").write_bytes(b"not a png")
    body = sections(write_report(run).read_text())
    assert f"{run / 'backbone.json'}, line 1: not valid JSON" in body["configuration"]
    assert f"{run / 'metrics.csv'}, line 2: not a metrics row" in body["training-curves"]
    assert f"{run / 'broken.png'}: not a readable image" in body["method-pictures"]
    assert f"{run / 'rows.json'}, line 1: not valid JSON" in body["method-pictures"]
    assert len(images(body["method-pictures"])) == 1  # rows.png still shown


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(SsrlError, match="not a run directory"):
        write_report(tmp_path)


def test_a_collapsed_epoch_is_named_in_the_report(tmp_path):
    metrics = ("epoch,effective_rank_epoch,embedding_std_epoch,loss_epoch,rank_ceiling_epoch,step\n"
               "0,58.5,0.043,-0.5,256,9\n"
               "1,11.3,0.040,-0.9,256,19\n")
    run = make_run(tmp_path / "run", two_class_npz(tmp_path / "d.npz"), metrics=metrics)
    page = write_report(run).read_text()
    assert "Collapse warning" in page and "epoch 1: collapsed to a few directions" in page
    assert "epoch 0: collapsed" not in page
    assert "rank_ceiling" not in page.split("figures:")[1].split(".")[0]  # not drawn as a curve


def test_a_truncated_map_cache_is_computed_again(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path / "two.npz"))
    write_report(run)
    (run / CACHE).write_bytes((run / CACHE).read_bytes()[:100])  # as a kill mid-write once left it
    assert "of 60 images of" in sections(write_report(run).read_text())["embedding-map"]
    assert np.load(run / CACHE)["coords"].shape == (60, 2)


def test_links_planted_in_the_run_directory_are_replaced_not_written_through(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path / "two.npz"))
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    for name in ("report.html", "report.html.tmp", CACHE):
        (run / name).symlink_to(outside)
    write_report(run)
    assert outside.read_text() == "keep"
    assert not (run / "report.html").is_symlink() and not (run / CACHE).is_symlink()


def test_the_header_says_how_far_a_run_stopped_before_its_epochs(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path))
    html = write_report(run).read_text()
    assert "2 epochs planned; 40 optimizer steps in its metrics" in html


def test_an_image_run_lists_no_text_options_and_sums_up_its_verdicts(tmp_path):
    run = make_run(tmp_path / "run", two_class_npz(tmp_path))
    (run / "evaluations").mkdir()
    (run / "evaluations" / "linear-two.npz.json").write_text(json.dumps(
        {"top1": 0.7, "random_init_top1": 0.8, "beats_floor": False, "verdict": "below its random-init floor"}))
    html = write_report(run).read_text()
    configuration = sections(html)["configuration"]
    assert "<td>image_size</td>" in configuration
    assert not any(f"<td>{key}</td>" in configuration for key in ("tokenizer", "vocab_size", "max_tokens", "documents"))
    intro = html.split('<section id="configuration">')[0]
    assert "At a glance" in intro and "<td>linear-two.npz</td><td>no</td><td>below its random-init floor</td>" in intro
