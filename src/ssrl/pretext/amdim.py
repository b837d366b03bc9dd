"""AMDIM, Augmented Multiscale Deep InfoMax. Bachman, Hjelm & Buchwalter 2019, arXiv:1906.00910.

P: two independent random views of every image (its augmentation: random resized crops, colour
jitter, random grayscale at p = 0.25, flips; no blur). k_γ: one embedding φ per scale, a 1×1
convolution with a residual MLP beside it (the paper's embeddings into its "RKHS"), applied to
the global feature and to h_θ's two deepest local maps. L: the NCE of ``local_nce`` for the
paper's three pairs, each from view a to view b and back: the global feature against every
location of the other view's last map ("1-7"), of its second-to-last map ("1-5"), and one
random location of the last map against every location of the other view's last map ("5-5",
one source location per image as in the paper's code), plus each pair's score penalty.

Departures: the paper's 5×5 and 7×7 maps come from its own encoder at 128 px; here the maps are
those the backbone declares (``ssrl.backbones.maps``), the two deepest resolutions: 7×7 and
14×14 for ``convnet-small`` at 28 px, 4×4 and 7×7 for a small-stem ResNet. The embedding width
is 128, not the paper's 1,024–2,560, for CPU-sized backbones. The paper's own encoder family is
not offered. AMDIM's mixture-based representations (section 3.4) are left out.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ssrl.backbones.maps import features_and_maps, map_channels
from ssrl.losses.mutual_information import local_nce
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class AMDIMConfig:
    embed_dim: int = 128   # φ's width: the paper's n_rkhs is 1,024-2,560; narrower for CPU cost (BENCHMARKS.md, AMDIM)
    clip: float = 20.0     # c of the tanh soft clipping (the paper's code)
    penalty: float = 0.05  # λ of the squared-score penalty (the paper's code)


class ResidualEmbedding(nn.Module):
    """φ: (B, C, h, w) → (B, D, h, w) as a linear 1×1 map plus a two-layer 1×1 MLP (BN, ReLU)
    beside it; a global feature enters as a 1×1 map."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Conv2d(in_dim, out_dim, 1)
        self.mlp = nn.Sequential(nn.Conv2d(in_dim, out_dim, 1, bias=False), nn.BatchNorm2d(out_dim),
                                 nn.ReLU(inplace=True), nn.Conv2d(out_dim, out_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


def random_location(local: torch.Tensor) -> torch.Tensor:
    """One location of each image's map, drawn uniformly: (B, D, L) → (B, D)."""
    pick = torch.randint(local.shape[2], (len(local),), device=local.device)
    return local[torch.arange(len(local), device=local.device), :, pick]


def embedded_maps(backbone: nn.Module, inputs: torch.Tensor, scales: int
                  ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """h_θ's global feature (B, dim, 1, 1) and its ``scales`` deepest maps, deepest first."""
    h, maps = features_and_maps(backbone, inputs)
    return h[:, :, None, None], maps[::-1][:scales]


def both_ways(pair, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of a pair's (nce, penalty) from view 1 to view 2 and from view 2 to view 1; ``a`` and
    ``b`` hold both views, view 1's B rows first."""
    n = len(a) // 2
    forward, backward = pair(a[:n], b[n:]), pair(a[n:], b[:n])
    return (forward[0] + backward[0]) / 2, (forward[1] + backward[1]) / 2


@register("amdim", family="contrastive instance discrimination", modality="image",
          paper="Bachman et al. 2019, Learning Representations by Maximizing Mutual Information Across Views")
class AMDIM(Pretext):
    Config = AMDIMConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)  # SimCLR's; the paper uses Adam 2e-4 at batch 200
    backbone_kinds = ("cnn",)
    needs_maps = True

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig(grayscale=0.25)

    def __init__(self, backbone: nn.Module, cfg: AMDIMConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        mid_dim, last_dim = map_channels(backbone)[-2:]
        self.head = nn.ModuleDict({  # k_γ: φ for the global feature and for each local scale
            "global": ResidualEmbedding(backbone.dim, cfg.embed_dim),
            "last": ResidualEmbedding(last_dim, cfg.embed_dim),
            "mid": ResidualEmbedding(mid_dim, cfg.embed_dim),
        })

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        h, (last, mid) = embedded_maps(self.backbone, inputs, scales=2)
        g = self.head["global"](h).flatten(1)          # (2B, D)
        last = self.head["last"](last).flatten(2)      # (2B, D, L_last)
        mid = self.head["mid"](mid).flatten(2)         # (2B, D, L_mid)

        def nce(source, target):
            return local_nce(source, target, self.cfg.clip, self.cfg.penalty)

        terms = {"global_last": both_ways(nce, g, last), "global_mid": both_ways(nce, g, mid),
                 "last_last": both_ways(lambda s, t: nce(random_location(s), t), last, last)}
        loss = sum(n + p for n, p in terms.values())
        return loss, {name: n.detach() for name, (n, _) in terms.items()}

