"""YADIM, "Yet Another DIM". Falcon & Cho 2020, "A Framework for Contrastive Self-Supervised
Learning and Designing a New Approach", arXiv:2009.00104.

The paper's framework splits a contrastive method into its augmentations, encoder,
representation extraction, similarity and loss, and builds YADIM from AMDIM by changing two of
them: the views are the stronger pipeline of CPC and SimCLR (here SimCLR's, with its Gaussian blur
on half the views), and only the last feature map is compared between the views, where AMDIM
compares three pairs across scales.

P: two independent random views of every image. k_γ: AMDIM's φ (``ResidualEmbedding``) on h_θ's
last feature map. L: AMDIM's NCE (``local_nce``: dot-product scores, tanh soft clipping, score
penalty) from one random location of view a's last map against every location of view b's, and
back. Departures: as for AMDIM, the map is the one the backbone declares (7×7 for
``convnet-small`` at 28 px) and the embedding is 128 wide.
"""

from dataclasses import dataclass

from torch import nn

from ssrl.backbones.maps import map_channels
from ssrl.losses.mutual_information import local_nce
from ssrl.pretext.amdim import ResidualEmbedding, both_ways, embedded_maps, random_location
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class YADIMConfig:
    embed_dim: int = 128   # as AMDIM's
    clip: float = 20.0     # as AMDIM's
    penalty: float = 0.05  # as AMDIM's


@register("yadim", family="contrastive instance discrimination", modality="image",
          paper="Falcon & Cho 2020, A Framework for Contrastive Self-Supervised Learning and Designing a New Approach")
class YADIM(Pretext):
    Config = YADIMConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)  # as AMDIM's
    backbone_kinds = ("cnn",)
    needs_maps = True

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig(blur=0.5)

    def __init__(self, backbone: nn.Module, cfg: YADIMConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = ResidualEmbedding(map_channels(backbone)[-1], cfg.embed_dim)  # k_γ: φ

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        _, (last,) = embedded_maps(self.backbone, inputs, scales=1)
        last = self.head(last).flatten(2)              # (2B, D, L)
        nce, penalty = both_ways(lambda s, t: local_nce(random_location(s), t, self.cfg.clip, self.cfg.penalty),
                                 last, last)
        return nce + penalty, {"nce": nce.detach()}
