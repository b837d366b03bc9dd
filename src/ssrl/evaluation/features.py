"""Frozen features h_θ(x) of a whole data set, computed once and reused by every protocol."""

import torch
from torch import nn
from tqdm.auto import tqdm


@torch.no_grad()
def extract_features(backbone: nn.Module, images: torch.Tensor, batch_size: int = 512,
                     device: str | torch.device | None = None, progress: bool = False) -> torch.Tensor:
    """Features (N, dim) float32 on the CPU of uint8 images (N, C, H, W), in eval mode (BN
    running statistics, no augmentation). The backbone's train/eval mode is restored after."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    was_training = backbone.training
    backbone.eval().to(device)
    out = []
    batches = range(0, len(images), batch_size)
    for start in tqdm(batches, desc="features", disable=not progress, leave=False):
        x = images[start:start + batch_size].to(device).float().div_(255)
        out.append(backbone(x).float().cpu())
    backbone.train(was_training)
    return torch.cat(out)
