import torch

from ssrl.collapse import effective_rank
from ssrl.evaluation.geometry import feature_geometry


def test_geometry_of_features_and_the_thread_count_left_as_it_was():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(300, 16, generator=g) + 3.0  # a shared direction: anisotropic
    threads = torch.get_num_threads()
    out = feature_geometry(f)
    assert torch.get_num_threads() == threads  # the rank is computed on one thread, then restored
    assert out["dim"] == 16 and out["anisotropy"] > 0.8
    assert out["effective_rank"] == round(effective_rank(f).item(), 2)
