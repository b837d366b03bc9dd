"""SimSiam. Chen & He, 2021, arXiv:2011.10566.

P: two random views of every image (as SimCLR). k_γ: a projector f (dim -> proj -> proj, BN
on every layer, the output too) and a bottleneck predictor h (proj -> pred -> proj). L: the
symmetric negative cosine between one view's prediction and the other view's projection, the
projection behind a stop-gradient; without it the paper reports collapse (0.1% kNN accuracy).
It logs the collapse monitor of ``ssrl.collapse`` (the paper's embedding std). Without the
stop-gradient, the projector's output batch norm (per-dimension unit variance over the batch)
keeps the output from collapsing to a point: it collapses to a few directions instead, and the
backbone under it stays near its random init; ``output_bn=False`` removes it, and then the output
collapses to a point and the backbone falls below its random init (BENCHMARKS.md, "stop-gradient").
The paper's CIFAR-10 setting: a 2-layer 2048-d projector, predictor hidden 512, SGD lr 0.03 ×
batch/256, weight decay 5e-4, 800 epochs. For our small backbones and short schedules we use
projector 512, predictor hidden 128 (the paper's 4:1 bottleneck) and the paper's SGD with weight
decay 5e-4 at lr 0.05, which scored better on B1 than the AdamW of our other joint-embedding
methods. Figures: BENCHMARKS.md, "B1" (the SimSiam items) and "SimSiam at 20 epochs".
"""

from dataclasses import dataclass

from torch import nn

from ssrl.collapse import collapse_stats
from ssrl.heads import mlp
from ssrl.losses.bootstrap import simsiam_loss
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class SimSiamConfig:
    proj_dim: int = 512    # the paper: 2048
    pred_hidden: int = 128  # the paper: 512, a 4:1 bottleneck
    stop_gradient: bool = True  # False: the paper's ablation, which collapses
    output_bn: bool = True  # the projector's output batch norm (no affine), as the paper's; False: none,
                            # which lets the ablation collapse to a point (BENCHMARKS.md, "stop-gradient")


@register("simsiam", family="bootstrapping / self-distillation", modality="image",
          paper="Chen & He 2021, Exploring Simple Siamese Representation Learning")
class SimSiam(Pretext):
    Config = SimSiamConfig
    optimizer = OptimizerDefaults(name="sgd", lr=0.05, weight_decay=5e-4, momentum=0.9)
    large_image_params = {"proj_dim": 2048, "pred_hidden": 512}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: SimSiamConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        p = cfg.proj_dim
        self.head = nn.ModuleDict({                                            # k_γ
            "projector": mlp([backbone.dim, p, p], last_bn=cfg.output_bn),
            "predictor": mlp([p, cfg.pred_hidden, p]),
        })

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        proj = self.head["projector"](self.backbone(inputs))  # (2B, proj_dim)
        pred = self.head["predictor"](proj)
        b = len(z) // 2
        loss = simsiam_loss(pred[:b], pred[b:], proj[:b], proj[b:], self.cfg.stop_gradient)
        return loss, collapse_stats(proj[:b])
