"""``ssrl.losses``: pretext objectives L as pure functions of tensors.

One file per loss family; no data or model code here. Distributed gathering, where a loss
needs it, goes through ``ssrl.distributed.gather_with_grad``, which is the identity in one
process, so every loss has a plain single-process path.
"""

from ssrl.losses.contrastive import info_nce, nt_xent

__all__ = ["info_nce", "nt_xent"]
