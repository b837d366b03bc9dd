"""DeepCluster. Caron, Bojanowski, Joulin & Douze, 2018, arXiv:1807.05520 (Algorithm 4 of the seeds).

At the start of every epoch: features r_i = h_θ(x_i) of the whole unlabeled set (no
augmentation, BN in eval mode), PCA-reduced, whitened and L2-normalized, clustered by k-means;
each image's pseudolabel z_i is its nearest centroid (``ssrl.components.kmeans``, which also
refills empty clusters). The classifier's top layer is then re-initialized, since cluster ids
mean nothing from one clustering to the next. P: an augmented view of each image and its z_i.
k_γ: an MLP and the top layer to k clusters. L: cross-entropy, each image weighted by the
inverse size of its cluster, which the paper (§3.4) notes is the same as sampling uniformly over
clusters. Logged per epoch: NMI between this and the previous epoch's assignments, NMI with the
labels when the data have them (for monitoring only), and the k-means time.
The paper (ImageNet, AlexNet / VGG-16): k = 10,000 (10× the classes), PCA to 256 dims, SGD lr
0.05, momentum 0.9, weight decay 1e-5, Sobel-filtered inputs, crop + flip. For small images and
unknown classes we use k = 10 × ``expected_classes`` (default 10: k = 100), crop + flip views.
Under DDP every process extracts the features of its share of D_s, the features are gathered,
rank 0 clusters and broadcasts the assignments, so every process trains on the same labels.
"""

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from ssrl.components.kmeans import kmeans, pca_whiten
from ssrl.distributed import gather_with_grad, rank, world_size
from ssrl.evaluation.features import extract_features
from ssrl.heads import mlp
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class DeepClusterConfig:
    clusters: int = 0             # k; 0 = 10 × expected_classes (the paper's ratio)
    expected_classes: int = 10
    pca_dim: int = 256            # as the paper (capped at the backbone's width)
    kmeans_iterations: int = 20
    head_hidden: int = 0          # MLP width before the top layer; 0 = the backbone's width


@torch.no_grad()
def cluster_features(features: torch.Tensor, k: int, pca_dim: int, iterations: int, seed: int) -> torch.Tensor:
    """Assignments (N,) of features (N, D): PCA-whiten, L2-normalize, k-means, nearest centroid.

    Under DDP ``features`` must be the same global set on every process: rank 0 clusters and
    broadcasts, so every process returns the same assignments."""
    if rank() == 0:
        _, assignments = kmeans(pca_whiten(features, pca_dim), k, iterations, seed)
    else:
        assignments = torch.empty(len(features), dtype=torch.long)
    if world_size() > 1:
        dist.broadcast(assignments, src=0)
    return assignments


@torch.no_grad()
def global_features(backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """h_θ(x) (N, dim) of all of ``images``, each process computing its contiguous share."""
    w, r = world_size(), rank()
    device = next(backbone.parameters()).device
    per = -(-len(images) // w)
    start = min(r * per, len(images))
    mine = images.narrow(0, start, min(per, len(images) - start))  # a view; encoded images stay encoded
    feats = extract_features(backbone, mine, device=device)
    if w == 1:
        return feats
    padded = torch.zeros(per, feats.shape[1], device=device)  # equal shapes for all_gather
    padded[:len(feats)] = feats.to(device)
    return gather_with_grad(padded).cpu()[:len(images)]


@register("deepcluster", family="clustering", modality="image",
          paper="Caron et al. 2018, Deep Clustering for Unsupervised Learning of Visual Features")
class DeepCluster(Pretext):
    Config = DeepClusterConfig
    optimizer = OptimizerDefaults(name="sgd", lr=0.05, weight_decay=1e-5, momentum=0.9)

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.2, 1.0))

    def __init__(self, backbone: nn.Module, cfg: DeepClusterConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.k = cfg.clusters or 10 * cfg.expected_classes
        hidden = cfg.head_hidden or backbone.dim
        self.head = nn.ModuleDict({"mlp": mlp([backbone.dim, hidden, hidden]), "top": nn.Linear(hidden, self.k)})  # k_γ
        # Recomputed at every epoch start, so not checkpointed: a resumed run re-clusters.
        self.register_buffer("assignments", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("class_weights", torch.ones(self.k), persistent=False)

    def on_train_epoch_start(self, epoch, images, labels):
        start = time.perf_counter()
        features = global_features(self.backbone, images)
        previous = self.assignments.cpu()
        assignments = cluster_features(features, self.k, self.cfg.pca_dim, self.cfg.kmeans_iterations, seed=epoch)
        seconds = time.perf_counter() - start
        self.assignments = assignments.to(self.class_weights.device)
        sizes = torch.bincount(assignments, minlength=self.k).float()
        self.class_weights = (len(assignments) / (self.k * sizes.clamp_min(1))).to(self.class_weights.device)
        self.head["top"].reset_parameters()
        figures = {"kmeans_seconds": seconds}
        if len(previous) == len(assignments):
            figures["nmi_previous"] = normalized_mutual_info_score(previous.numpy(), assignments.numpy())
        if labels is not None:
            figures["nmi_labels"] = normalized_mutual_info_score(labels.numpy(), assignments.numpy())
        return figures

    def pseudolabels(self, x, index=None):    # P
        if len(self.assignments) == 0:
            raise RuntimeError("deepcluster: no assignments yet; on_train_epoch_start clusters D_s first")
        if index is None:
            raise ValueError("deepcluster: P needs the batch's index into D_s, whose clusters are the targets")
        return self.views(x), self.assignments[index.to(self.assignments.device)]

    def loss(self, inputs, z):                          # L
        logits = self.head["top"](self.head["mlp"](self.backbone(inputs)))
        loss = F.cross_entropy(logits, z, weight=self.class_weights)
        return loss, {"pretext_acc": (logits.argmax(1) == z).float().mean()}
