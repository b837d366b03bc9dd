"""Fine-tuning: the whole backbone h_θ and a new linear head g_φ trained together on labels.

The transfer protocol SSL papers report beside the linear probe (e.g. SimCLR, Chen et al. 2020,
arXiv:2002.05709, fine-tunes the pretrained network with a new linear head). h_θ and g_φ get
separate learning rates (a pretrained h_θ may need smaller steps than a fresh head; with few labels
on small images equal ones did better, hence the default in ``TrainBudget``). AdamW,
cosine decay to zero over all steps. Initialisation of g_φ, data order and augmentation follow
from ``seed`` alone; the caller's backbone is never modified (a deep copy is trained).

The same loop trains the supervised-from-scratch baseline (``ssrl.evaluation.baselines``).
"""

import copy
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ssrl.components.batch_norm import recompute_batch_norm
from ssrl.evaluation.features import as_input
from ssrl.notices import interactive
from ssrl.views import ViewConfig, Views


def supervised_views() -> Views:
    """Light augmentation for supervised training on images: a random resized crop of 50-100% of
    the area and a horizontal flip, no colour change (labels must survive it)."""
    return Views(ViewConfig.geometric((0.5, 1.0)))


def finetune_optimizer(backbone: nn.Module, head: nn.Module, lr_backbone: float, lr_head: float,
                       weight_decay: float = 1e-4) -> torch.optim.AdamW:
    """AdamW with one parameter group for h_θ (``lr_backbone``) and one for g_φ (``lr_head``)."""
    return torch.optim.AdamW([{"params": list(backbone.parameters()), "lr": lr_backbone},
                              {"params": list(head.parameters()), "lr": lr_head}], weight_decay=weight_decay)


def train_classifier(backbone: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, *,
                     epochs: int, lr_backbone: float, lr_head: float, batch_size: int, seed: int = 0,
                     augment: Callable[[torch.Tensor], torch.Tensor] | None = None, weight_decay: float = 1e-4,
                     device: str | torch.device | None = None, progress: bool = False) -> nn.Sequential:
    """``nn.Sequential(h_θ copy, g_φ)`` trained with cross-entropy on (train_x, train_y), in eval mode.

    ``train_x`` holds stored rows (uint8 images or token ids, see ``as_input``); ``augment`` maps a
    float input batch to an augmented one. Batches are near-equal parts of each epoch's order
    (never a lone sample, which batch norm cannot train on)."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # g_φ's init and the augmentation draws
        model = nn.Sequential(copy.deepcopy(backbone), nn.Linear(backbone.dim, num_classes)).to(device).train()
        opt = finetune_optimizer(model[0], model[1], lr_backbone, lr_head, weight_decay)
        total = epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
        for _ in tqdm(range(epochs), desc="fine-tune", disable=not (progress and interactive()), leave=False):
            for idx in torch.randperm(len(train_x), generator=g).tensor_split(steps_per_epoch):
                x = as_input(train_x[idx], device)
                if augment is not None:
                    x = augment(x)
                loss = F.cross_entropy(model(x), train_y[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        # "Precise BN" on the (un-augmented) training rows: after a few hundred steps or fewer the
        # running averages still remember their initial values (or the pretraining data).
        recompute_batch_norm(model, train_x, max_images=len(train_x), batch_size=batch_size, seed=seed)
    return model.eval()


@torch.no_grad()
def classifier_predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted class (N,) of a classifier for stored rows ``x``."""
    device = next(model.parameters()).device
    return torch.cat([model(as_input(x[start:start + batch_size], device)).argmax(1).cpu()
                      for start in range(0, len(x), batch_size)])


def classifier_top1(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy (a fraction) of a classifier on stored rows ``x`` with labels ``y``."""
    return (classifier_predict(model, x, batch_size) == y).float().mean().item()


def finetune_predict(backbone: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                     num_classes: int, *, epochs: int, lr_backbone: float, lr_head: float, batch_size: int,
                     seed: int = 0, progress: bool = False,
                     augment: Callable[[torch.Tensor], torch.Tensor] | None = None, weight_decay: float = 1e-4,
                     device: str | torch.device | None = None) -> torch.Tensor:
    """Predicted class (N,) of each test row under a deep copy of ``backbone`` (any module mapping
    a batch of ``train_x`` rows to (B, backbone.dim)) fine-tuned with a new linear head."""
    model = train_classifier(backbone, train_x, train_y, num_classes, epochs=epochs, lr_backbone=lr_backbone,
                             lr_head=lr_head, batch_size=batch_size, seed=seed, augment=augment,
                             weight_decay=weight_decay, device=device, progress=progress)
    return classifier_predict(model, test_x)


def finetune_top1(backbone: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                  test_y: torch.Tensor, **training) -> float:
    """Test top-1 (a fraction) of ``finetune_predict`` (``training``: its keyword arguments)."""
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    return (finetune_predict(backbone, train_x, train_y, test_x, num_classes, **training) == test_y).float().mean().item()
