import json

import pytest

from ssrl.report.evaluations import evaluations_html, result_html
from ssrl.report.page import Missing

FEWSHOT = {"protocol": "fewshot", "data": "fashion-mnist", "draws": 3,
           "top1_mean": 0.8125, "top1_std": 0.0100, "scratch_top1_mean": 0.6, "scratch_top1_std": 0.02,
           "random_init_top1_mean": 0.5, "random_init_top1_std": 0.03,
           "points": [{"n_labels": 10, "top1_mean": 0.7}, {"n_labels": 100, "top1_mean": 0.8}]}


def rows(html: str) -> list[str]:
    return [r.split("</tr>")[0] for r in html.split("<tr>")[1:]]


def test_each_figure_sits_beside_its_baselines_as_mean_and_std():
    html = result_html(FEWSHOT)
    header, top1 = rows(html)[:2]
    assert [h in header for h in ("pretrained (SSL)", "random init", "supervised from scratch")] == [True] * 3
    assert top1 == ("<td>top1</td><td>0.8125 ± 0.0100</td><td>0.5000 ± 0.0300</td><td>0.6000 ± 0.0200</td>")
    assert "<td>draws</td>" in html and "<td>fewshot</td>" in html  # settings shown too
    assert "<th>n_labels</th>" in html and '<td class="num">100</td>' in html  # a list of records: a table


def test_a_single_figure_with_one_baseline():
    header, top1 = rows(result_html({"top1": 0.9, "random_init_top1": 0.4, "protocol": "knn"}))[:2]
    assert "random init" in header and "scratch" not in header
    assert top1 == "<td>top1</td><td>0.9000</td><td>0.4000</td>"


def test_folder_json_and_png_and_a_broken_file(tmp_path):
    with pytest.raises(Missing, match="No evaluations yet"):
        evaluations_html(tmp_path / "evaluations")
    folder = tmp_path / "evaluations"
    folder.mkdir()
    (folder / "knn-x.json").write_text(json.dumps({"top1": 0.9, "random_init_top1": 0.4}))
    (folder / "linear-x.json").write_text('{"top1": 0.9,\n "oops"}')
    (folder / "label_efficiency-x.png").write_bytes(b"\x89PNG fake")
    html = evaluations_html(folder)
    assert html.index("knn-x.json") < html.index("linear-x.json") < html.index("label_efficiency-x.png")
    assert "linear-x.json, line 2: not valid JSON" in html
    assert 'src="data:image/png;base64,' in html
