import pytest

from ssrl.errors import SsrlError
from ssrl.report.metrics import curves, read_metrics

# As Lightning's CSV logger writes it: per-step rows, then an epoch-end row, one column per figure.
CSV = """epoch,knn_top1,loss_epoch,loss_step,step,embedding_std_step,embedding_std_epoch
0,,,5.5,9,0.30,
0,0.71,5.2,,19,,0.28
1,,,4.9,29,0.25,
1,0.80,4.7,,39,,0.24
"""


def test_columns_become_series_against_the_step(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV)
    series = read_metrics(tmp_path / "metrics.csv")
    assert set(series) == {"knn_top1", "loss_epoch", "loss_step", "embedding_std_step", "embedding_std_epoch"}
    assert series["loss_step"].steps == [9, 29] and series["loss_step"].values == [5.5, 4.9]
    assert series["knn_top1"].epochs == [0, 1] and series["knn_top1"].values == [0.71, 0.80]


def test_curves_group_step_and_epoch_columns_loss_first(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV)
    grouped = curves(read_metrics(tmp_path / "metrics.csv"), exclude=("knn_top1",))
    assert list(grouped) == ["loss", "embedding_std"]
    assert set(grouped["loss"]) == {"step", "epoch"} and grouped["loss"]["epoch"].values == [5.2, 4.7]


def test_a_bad_row_is_named_by_file_and_line(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV + "2,,,oops,49,,\n")
    with pytest.raises(SsrlError, match=r"metrics\.csv, line 6: not a metrics row"):
        read_metrics(tmp_path / "metrics.csv")
