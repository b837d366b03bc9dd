"""Backbones h_θ: the representation extractor that pretraining trains and transfer keeps.

Every backbone is an ``nn.Module`` mapping a float image batch (B, C, H, W) in [0, 1] to
features (B, dim) and carrying ``dim``, or, for text backbones, token ids (B, T) to features.
Backbones register a factory by name; the factory takes ``in_channels`` and ``image_size``
(text: ``vocab_size`` and ``max_len``) so any backbone fits any data set.
"""

from ssrl.backbones.registry import BACKBONES, build_backbone, list_backbones, register_backbone
from ssrl.backbones import clip3d, convnet, resnet, text_transformer, vit, word_embeddings  # noqa: F401  (registers the built-in backbones)

__all__ = ["BACKBONES", "build_backbone", "list_backbones", "register_backbone"]
