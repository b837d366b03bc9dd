import json

from PIL import Image

from ssrl.evaluation.label_efficiency import plot_label_efficiency
from ssrl.evaluation.records import evaluation_path, save_evaluation


def test_evaluations_are_saved_under_protocol_and_data_name(tmp_path):
    assert evaluation_path(tmp_path, "knn", "fashion-mnist") == tmp_path / "evaluations" / "knn-fashion-mnist.json"
    assert evaluation_path(tmp_path, "fewshot", "/data/my set/") == tmp_path / "evaluations" / "fewshot-my_set.json"
    path = save_evaluation(tmp_path, "linear", "digits", {"top1": 0.5})
    assert json.loads(path.read_text()) == {"top1": 0.5}


def test_label_efficiency_plot_is_a_png(tmp_path):
    def point(n, top1):
        values = {"top1": top1, "scratch_top1": top1 - 0.2, "random_init_top1": top1 - 0.1}
        return {"n_labels": n, "classifier": "linear", "draws": 3,
                **{f"{k}_mean": v for k, v in values.items()}, **{f"{k}_std": 0.02 for k in values}}

    path = plot_label_efficiency([point(100, 0.8), point(10, 0.6)], tmp_path / "curve.png", "title")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (600, 400)
