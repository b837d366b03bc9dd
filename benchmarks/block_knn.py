"""Weighted kNN on B1 (Fashion-MNIST) at every block of a convolutional backbone: the globally
average-pooled output of each ReLU, for saved runs beside the first run's random init.

    python benchmarks/block_knn.py RUN_DIR [RUN_DIR ...] [--subset 20000]

The last block is h_θ's own feature, what B1's kNN scores; the earlier ones show at which depth
a pretext task improves on random features or falls behind them (a task trained on small
patches, for one, teaches its deep layers on 1 × 1 maps). ``--subset`` draws that many training
images as the bank (the test split's first subset / 4 as queries) for a quicker look. Writes
benchmarks/results/block_knn_RUNNAMES.json.
"""

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

from ssrl.data import load_labeled  # noqa: E402
from ssrl.evaluation import extract_features, knn_top1  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402


class PooledBlocks(nn.Module):
    """The backbone's ReLU outputs, each averaged over its positions, concatenated (B, Σ widths)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.relus = [m for m in backbone.modules() if isinstance(m, nn.ReLU)]
        if not self.relus:
            raise SystemExit(f"{type(backbone).__name__} has no ReLU blocks to read")
        self._acts: list[torch.Tensor] = []
        for relu in self.relus:
            relu.register_forward_hook(lambda module, args, out: self._acts.append(out.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._acts.clear()
        self.backbone(x)
        return torch.cat(self._acts, dim=1)

    def widths(self) -> list[int]:
        return [len(a[0]) for a in self._acts]


def block_scores(backbone: nn.Module, train, test) -> list[float]:
    """kNN top-1 at each block, in depth order."""
    blocks = PooledBlocks(backbone)
    bank, query = extract_features(blocks, train.images), extract_features(blocks, test.images)
    scores = []
    for b, q in zip(bank.split(blocks.widths(), dim=1), query.split(blocks.widths(), dim=1)):
        scores.append(round(knn_top1(b, train.labels, q, test.labels), 4))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--subset", type=int, default=None, help="bank size (default: the whole training split)")
    args = parser.parse_args()
    train, test, split = load_labeled("fashion-mnist")
    if args.subset:
        picked = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:args.subset]
        train, test = train.subset(picked), test.subset(torch.arange(min(len(test), max(1, args.subset // 4))))
    rows = {"random_init": block_scores(init_backbone(run_config(args.runs[0])), train, test)}
    for run in args.runs:
        rows[run.name] = block_scores(load_backbone(run), train, test)
    for name, scores in rows.items():
        print(f"{name:>32}: " + " ".join(f"{s:.3f}" for s in scores))
    save("block_knn_" + "_".join(r.name for r in args.runs), {
        "split": split, "bank": len(train), "queries": len(test), "knn_by_block": rows})


if __name__ == "__main__":
    main()
