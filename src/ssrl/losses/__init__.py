"""``ssrl.losses``: pretext objectives L as pure functions of tensors.

One file per loss family; no data or model code here. Distributed gathering, where a loss
needs it, goes through ``ssrl.distributed.gather_with_grad``, which is the identity in one
process, so every loss has a plain single-process path.

The contrastive-loss zoo, each usable on its own and tested against its paper's formula:

- ``contrastive``: ``info_nce`` (CPC), ``nt_xent`` (SimCLR)
- ``metric``: ``margin_contrastive`` (Hadsell et al. 2006), ``triplet`` (FaceNet)
- ``structured``: ``lifted_structured`` (Oh Song et al. 2016), ``n_pair`` (Sohn 2016)
- ``noise_contrastive``: ``nce`` (Gutmann & Hyvärinen 2010) and its noise sampler ``sample_noise``
- ``snn``: ``soft_nearest_neighbours`` (Frosst et al. 2019)

Redundancy reduction: ``redundancy``: ``barlow_twins`` (Zbontar et al. 2021), ``vicreg`` and its
three terms ``vicreg_terms`` (Bardes et al. 2022)

Bootstrapping: ``bootstrap``: ``simsiam_loss`` (Chen & He 2021), ``byol_loss`` (Grill et al. 2020);
``distillation``: ``dino_loss`` and its centre ``update_center`` (Caron et al. 2021)

Clustering: ``swapped``: ``swav_loss`` and its codes ``sinkhorn`` (Caron et al. 2020)

Local and dense: ``mutual_information``: ``local_nce`` (AMDIM, Bachman et al. 2019);
``random_walk``: ``random_walk_loss`` (Jabri et al. 2020); ``dense``: depth, normal and contour
losses of synthetic geometry (``scale_invariant_log_loss``, ``cosine_normal_loss``,
``balanced_contour_loss``)
"""

from ssrl.losses.bootstrap import byol_loss, simsiam_loss
from ssrl.losses.distillation import dino_loss, update_center
from ssrl.losses.contrastive import info_nce, nt_xent
from ssrl.losses.metric import margin_contrastive, triplet
from ssrl.losses.noise_contrastive import nce, sample_noise
from ssrl.losses.redundancy import barlow_twins, vicreg, vicreg_terms
from ssrl.losses.snn import soft_nearest_neighbours
from ssrl.losses.structured import lifted_structured, n_pair
from ssrl.losses.swapped import sinkhorn, swav_loss

__all__ = [
    "barlow_twins",
    "byol_loss",
    "dino_loss",
    "info_nce",
    "lifted_structured",
    "margin_contrastive",
    "n_pair",
    "nce",
    "nt_xent",
    "sample_noise",
    "simsiam_loss",
    "sinkhorn",
    "soft_nearest_neighbours",
    "swav_loss",
    "triplet",
    "update_center",
    "vicreg",
    "vicreg_terms",
]
