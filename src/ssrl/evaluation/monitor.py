"""Online kNN monitor: kNN top-1 of the current backbone at the end of every epoch, so a run's
report shows whether the features improve while the pretext loss falls."""

import torch
from lightning.pytorch.callbacks import Callback

from ssrl.evaluation.features import extract_features
from ssrl.evaluation.knn import knn_top1


class KnnMonitor(Callback):
    """Logs ``knn_top1`` from features of the labeled ``bank`` (N, C, H, W) uint8 with
    ``bank_labels`` against ``query``/``query_labels``. Runs on process 0 only."""

    def __init__(self, bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor,
                 query_labels: torch.Tensor, k: int = 200, temperature: float = 0.1):
        self.bank, self.bank_labels, self.query, self.query_labels = bank, bank_labels, query, query_labels
        self.k, self.temperature = k, temperature

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        backbone = pl_module.method.backbone
        device = pl_module.device
        bank_f = extract_features(backbone, self.bank, device=device)
        query_f = extract_features(backbone, self.query, device=device)
        top1 = knn_top1(bank_f, self.bank_labels, query_f, self.query_labels, self.k, self.temperature)
        pl_module.log("knn_top1", top1, prog_bar=True, rank_zero_only=True)
