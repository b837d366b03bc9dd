"""DeepCluster: k-means pseudolabels, empty-cluster repair, head re-initialization, weighting."""

import numpy as np
import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.components.kmeans import kmeans, nearest_centroid, pca_whiten, repair_empty_clusters
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.views import Views


def _blobs(n_per=50, centres=((0, 0), (8, 0), (0, 8)), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(n_per, 2, generator=g) + torch.tensor(c, dtype=torch.float) for c in centres])


def test_pseudolabels_are_the_nearest_centroids():
    x = _blobs()
    centroids, assignments = kmeans(x, 3, seed=0)
    d = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)  # another route to the distances
    assert torch.equal(assignments, d.argmin(1))
    assert len(set(assignments[:50].tolist())) == 1  # each blob is one cluster
    assert len(set(assignments.tolist())) == 3


def test_empty_cluster_repair_leaves_no_empty_cluster():
    x = _blobs()
    centroids = torch.tensor([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [100.0, 100.0], [-50.0, 0.0]])
    assignments = nearest_centroid(x, centroids)
    assert torch.bincount(assignments, minlength=5)[3:].sum() == 0  # two empty clusters
    new_c, new_a = repair_empty_clusters(x, centroids, assignments, torch.Generator().manual_seed(0))
    assert torch.bincount(new_a, minlength=5).min() > 0
    assert len(new_a) == len(x)
    # Only points of the split clusters moved, and only into the formerly empty ones.
    moved = new_a != assignments
    assert set(new_a[moved].tolist()) <= {3, 4}


def test_kmeans_rejects_fewer_samples_than_clusters():
    with pytest.raises(SsrlError, match="3 samples, 5 clusters"):
        kmeans(torch.randn(3, 2), 5)


def test_pca_whiten_decorrelates_and_normalizes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=g) @ torch.randn(6, 6, generator=g)
    y = pca_whiten(x, 4)
    assert y.shape == (500, 4)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(500))
    # Before the row normalization the components are white: recompute that way.
    xc = (x - x.mean(0)).double()
    vals, vecs = torch.linalg.eigh(xc.T @ xc / 499)
    white = xc @ vecs[:, -4:] / (vals[-4:] + 1e-5).sqrt()
    torch.testing.assert_close(white.T @ white / 499, torch.eye(4, dtype=torch.float64), atol=1e-4, rtol=0)


def _method(k=4):
    torch.manual_seed(0)
    cls = METHODS["deepcluster"]
    return cls(build_backbone("convnet-small", 1, 16, seed=0), method_config("deepcluster", {"clusters": k}),
               Views(cls.default_views()))


def test_epoch_start_clusters_reinitializes_the_head_and_logs_nmi():
    method = _method()
    images = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8)
    labels = torch.arange(40) % 4
    figures = method.on_train_epoch_start(0, images, labels)
    assert len(method.assignments) == 40 and torch.bincount(method.assignments, minlength=4).min() > 0
    assert {"kmeans_seconds", "nmi_labels"} <= set(figures) and "nmi_previous" not in figures
    with torch.no_grad():
        method.head["top"].weight.fill_(7.0)
    before_mlp = [p.clone() for p in method.head["mlp"].parameters()]
    figures = method.on_train_epoch_start(1, images, None)
    assert not (method.head["top"].weight == 7.0).any()  # re-initialized
    assert all(torch.equal(a, b) for a, b in zip(before_mlp, method.head["mlp"].parameters()))
    assert 0.0 <= figures["nmi_previous"] <= 1.0 and "nmi_labels" not in figures


def test_targets_are_the_assignments_of_the_batch_and_weighted_by_cluster_size():
    method = _method()
    images = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8)
    method.on_train_epoch_start(0, images, None)
    index = torch.tensor([5, 0, 39, 17])
    _, z = method.pseudolabels(images[index].float() / 255, index)
    assert torch.equal(z, method.assignments[index])
    sizes = torch.bincount(method.assignments, minlength=4).double()
    expected = 40 / (4 * sizes)
    torch.testing.assert_close(method.class_weights.double(), expected)


def test_pseudolabels_before_clustering_is_an_error():
    with pytest.raises(RuntimeError, match="no assignments yet"):
        _method().pseudolabels(torch.rand(2, 1, 16, 16), torch.arange(2))


def test_nmi_against_labels_matches_sklearn():
    from sklearn.metrics import normalized_mutual_info_score

    method = _method(k=3)
    images = torch.zeros(30, 1, 16, 16, dtype=torch.uint8)
    images[10:20] = 128
    images[20:] = 255
    labels = torch.arange(30) // 10
    figures = method.on_train_epoch_start(0, images, labels)
    assert figures["nmi_labels"] == pytest.approx(normalized_mutual_info_score(labels.numpy(), method.assignments.numpy()))
    assert np.isfinite(figures["kmeans_seconds"])
