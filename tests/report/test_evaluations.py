import json

import pytest
from PIL import Image

from ssrl.report.evaluations import evaluations_html, result_html
from ssrl.report.page import Missing

POINT = {"fraction": 0.01, "per_class": None, "n_labels": 60, "draws": 3, "budget": {"epochs": 50},
         "top1": [0.80, 0.81, 0.8275], "top1_mean": 0.8125, "top1_std": 0.0100,
         "scratch_top1": [0.58, 0.6, 0.62], "scratch_top1_mean": 0.6, "scratch_top1_std": 0.02,
         "random_init_top1": [0.47, 0.5, 0.53], "random_init_top1_mean": 0.5, "random_init_top1_std": 0.03}
# as `ssrl evaluate --protocol fewshot` saves one setting: the point, also at the top level
FEWSHOT = {"protocol": "fewshot", "data": "fashion-mnist", **POINT,
           "points": [POINT, {**POINT, "fraction": 0.1, "n_labels": 600, "top1_mean": 0.9}]}


def rows(html: str) -> list[str]:
    return [r.split("</tr>")[0] for r in html.split("<tr>")[1:]]


def test_each_figure_sits_beside_its_baselines_as_mean_and_std():
    html = result_html(FEWSHOT)
    header, top1, settings_header = rows(html)[:3]
    assert [h in header for h in ("pretrained (SSL)", "random init", "supervised from scratch")] == [True] * 3
    assert top1 == ("<td>top1</td><td>0.8125 ± 0.0100</td><td>0.5000 ± 0.0300</td><td>0.6000 ± 0.0200</td>")
    assert settings_header == "<th>setting</th><th>value</th>"  # one figure row: the stds and draws go with it
    assert "<td>draws</td>" in html and "<td>fewshot</td>" in html  # settings shown too


def test_a_curve_is_one_row_per_setting():
    html = result_html(FEWSHOT).split("<p>points:</p>")[1]
    header, first, second = rows(html)
    assert header == ("<th>fraction</th><th>n_labels</th><th>draws</th><th>top1: pretrained</th>"
                      "<th>top1: random init</th><th>top1: supervised from scratch</th>")
    assert second == ('<td class="num">0.1</td><td class="num">600</td><td class="num">3</td>'
                      "<td>0.9000 ± 0.0100</td><td>0.5000 ± 0.0300</td><td>0.6000 ± 0.0200</td>")
    assert "In the JSON file only: budget." in html  # not silently dropped


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
    Image.new("RGB", (30, 20), "white").save(folder / "label_efficiency-x.png")
    (folder / "broken-x.png").write_bytes(b"\x89PNG fake")
    html = evaluations_html(folder)
    assert html.index("knn-x.json") < html.index("linear-x.json") < html.index("label_efficiency-x.png")
    assert "linear-x.json, line 2: not valid JSON" in html
    assert f"{folder / 'broken-x.png'}: not a readable image" in html
    assert html.count('src="data:image/png;base64,') == 1


def test_odd_values_are_shown_as_they_are():
    _, top1 = rows(result_html({"top1_mean": None, "top1_std": 0.1, "random_init_top1_mean": 0.5}))[:2]
    assert top1 == "<td>top1</td><td>None</td><td>0.5000</td>"
