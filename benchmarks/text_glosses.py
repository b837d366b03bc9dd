"""Protocol B2 (../shared/BENCHMARKS.md): WordNet glosses, text.

Pretrains one text method on the train glosses (no labels) for a wall-clock budget, then
scores the backbone beside the same backbone at random init: a linear probe on frozen features
(mean-pooled and first-token) and fine-tuning, both predicting the 45 lexnames on the test
split. On a shared 2-core CPU a forward pass runs at about 3,000 tokens/s, so by default the
probe trains on 10,000 and fine-tuning on 5,000 class-balanced train glosses, and both are
scored on 5,000 class-balanced test glosses (``--probe-n``, ``--finetune-n``, ``--test-n``). Also measures training tokens per second (real tokens, padding excluded) in steady state.
``--baseline`` instead measures TF-IDF of word 1–2-grams + logistic regression.

The budget is a wall-clock limit on pretraining. The learning-rate schedule spans twice the
steps a short timing probe predicts for it (``--max-steps`` sets the count directly): the
machine is shared, and its speed changes while a run goes on, so the schedule may be cut
before it ends (the JSON records the steps done and the steps planned).

    python benchmarks/text_glosses.py --method masked_lm --minutes 20
    python benchmarks/text_glosses.py --baseline
"""

import argparse
import hashlib
import json
import math
import shutil
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from common import RESULTS, peak_rss_mb, save
from ssrl.api import pretrain
from ssrl.data.split import stratified_split
from ssrl.data.text import load_text
from ssrl.data.tokenize import PAD, encode, load_tokenizer
from ssrl.evaluation import finetune_top1, linear_probe_top1
from ssrl.evaluation.features import length_order
from ssrl.modality.text import TOKENIZER_FILE
from ssrl.runs import init_backbone, load_backbone, run_config

GLOSSES = "/work/shared/datasets/wordnet-glosses/glosses.tsv.gz"


class TokenMeter(Callback):
    """Wall time and real (non-padding) tokens of every training step."""

    def __init__(self):
        self.steps: list[tuple[float, int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start, self._tokens = time.perf_counter(), int((batch[0] != PAD).sum())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append((time.perf_counter() - self._start, self._tokens))

    def steady(self, skip: int = 5) -> tuple[float, float]:
        """(seconds per step, tokens per second) after the first ``skip`` steps."""
        rows = self.steps[skip:] or self.steps
        seconds = sum(s for s, _ in rows)
        return seconds / len(rows), sum(t for _, t in rows) / seconds


def _pretrain(args, out: Path, max_steps: int, meter: TokenMeter, budget: str | None = None) -> Path:
    per_epoch = 94_055 // args.batch_size
    shutil.rmtree(out, ignore_errors=True)
    return pretrain(args.data, args.method, out=out, backbone=args.backbone,  # None: the method's default_backbone
                    epochs=max(1, math.ceil(max_steps / per_epoch)), max_steps=max_steps, batch_size=args.batch_size,
                    text_column="gloss", vocab_size=8000, max_tokens=64, seed=args.seed, callbacks=(meter,),
                    lr=args.lr, budget=budget,
                    progress=False, params=dict(p.split("=", 1) for p in args.param))


@torch.no_grad()
def pooled_features(backbone, ids: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Mean-pooled and first-token features of every row from one pass, rows taken in order of
    length so that each batch carries little padding."""
    backbone.eval()
    order = length_order(ids)
    out = {"mean": torch.empty(len(ids), backbone.dim), "first": torch.empty(len(ids), backbone.dim)}
    for idx in order.split(batch_size):
        x = ids[idx]
        x = x[:, :int((x != PAD).sum(1).max())]
        h = backbone.tokens(x)
        for pool in out:
            backbone.pool = pool
            out[pool][idx] = backbone.pooled(h, x)
    backbone.pool = "mean"
    return out


def labeled(run: Path, probe_n: int, finetune_n: int, test_n: int, seed: int):
    """Train and test glosses with their lexnames, encoded with the run's tokenizer: class-balanced
    subsets of the train split for the probe and for fine-tuning, and of the test split."""
    tok = load_tokenizer(run / TOKENIZER_FILE)
    train = load_text(GLOSSES, split="train", text_column="gloss", label_column="lexname")
    test = load_text(GLOSSES, split="test", text_column="gloss", label_column="lexname", classes=train.classes)
    subsets = {}
    for name, n, part in (("probe", probe_n, train), ("finetune", finetune_n, train), ("test", test_n, test)):
        _, picked = stratified_split(part.labels, min(1.0, n / len(part)), seed)
        subsets[name] = (encode(tok, [part.texts[i] for i in picked.tolist()], 64), part.labels[picked])
    return subsets, subsets.pop("test"), len(train.classes)


def score(backbone, subsets, test, args) -> dict:
    (probe_x, probe_y), (ft_x, ft_y) = subsets["probe"], subsets["finetune"]
    test_x, test_y = test
    t0 = time.perf_counter()
    train_f, test_f = pooled_features(backbone, probe_x), pooled_features(backbone, test_x)
    out = {f"linear_{pool}": linear_probe_top1(train_f[pool], probe_y, test_f[pool], test_y, seed=args.seed)
           for pool in ("mean", "first")}
    t1 = time.perf_counter()
    out["finetune"] = finetune_top1(backbone, ft_x, ft_y, test_x, test_y, epochs=args.finetune_epochs,
                                    lr_backbone=args.lr_backbone, lr_head=args.lr_head, batch_size=64, seed=args.seed)
    out["probe_s"], out["finetune_s"] = round(t1 - t0, 1), round(time.perf_counter() - t1, 1)
    return out


def random_init_scores(run: Path, subsets, test, args) -> dict:
    """The random-init floor, cached per (backbone, tokenizer, evaluation settings): methods that
    share a backbone and tokenizer share it."""
    cfg = run_config(run)
    key = hashlib.sha1(json.dumps([cfg.backbone, cfg.seed, (run / TOKENIZER_FILE).read_text(), args.probe_n,
                                   args.finetune_n, args.test_n, args.finetune_epochs, args.lr_backbone, args.lr_head]).encode()).hexdigest()[:12]
    cache = RESULTS / "text_random_init" / f"{cfg.backbone}-{key}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    result = score(init_backbone(cfg), subsets, test, args)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result, indent=2) + "\n")
    return result


def run_method(args) -> dict:
    out = Path(args.runs) / f"b2-{args.method}"
    max_steps = args.max_steps
    if max_steps is None:
        probe = TokenMeter()
        _pretrain(args, Path(args.runs) / "b2-probe", 12, probe)
        step_s, _ = probe.steady(skip=4)
        max_steps = int(2 * args.minutes * 60 / step_s)
    meter = TokenMeter()
    start = time.perf_counter()
    run = _pretrain(args, out, max_steps, meter, budget=f"{round(args.minutes * 60)}s")
    wall = time.perf_counter() - start
    step_s, tokens_s = meter.steady()
    subsets, test, classes = labeled(run, args.probe_n, args.finetune_n, args.test_n, args.seed)
    pretrained = score(load_backbone(run), subsets, test, args)
    floor = random_init_scores(run, subsets, test, args)
    return {"protocol": "B2", "method": args.method, "backbone": run_config(run).backbone, "run": str(run),
            "budget_minutes": args.minutes, "planned_steps": max_steps, "batch_size": args.batch_size, "lr": args.lr,
            "pretrain_wall_s": round(wall, 1), "steps": len(meter.steps), "s_per_step": round(step_s, 3),
            "train_tokens_per_s": round(tokens_s, 1), "classes": classes,
            "probe_train_glosses": len(subsets["probe"][1]), "finetune_train_glosses": len(subsets["finetune"][1]),
            "finetune": {"epochs": args.finetune_epochs, "lr_backbone": args.lr_backbone, "lr_head": args.lr_head,
                         "batch_size": 64},
            "test_glosses": len(test[1]), "test_split_glosses": 23_604, "pretrained": pretrained, "random_init": floor,
            "config": run_config(run).__dict__, "peak_rss_mb": round(peak_rss_mb())}


def baseline(args) -> dict:
    """TF-IDF of word 1–2-grams + logistic regression on all train glosses, top-1 on the test split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train = load_text(GLOSSES, split="train", text_column="gloss", label_column="lexname")
    test = load_text(GLOSSES, split="test", text_column="gloss", label_column="lexname", classes=train.classes)
    start = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    clf = LogisticRegression(C=args.C, max_iter=1000).fit(vec.fit_transform(train.texts), train.labels.numpy())
    top1 = float((clf.predict(vec.transform(test.texts)) == test.labels.numpy()).mean())
    return {"protocol": "B2", "baseline": "tfidf word 1-2-grams (sublinear tf, min_df 2) + logistic regression",
            "C": args.C, "train_glosses": len(train), "test_glosses": len(test), "top1": top1,
            "wall_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="masked_lm")
    p.add_argument("--backbone", default=None, help="default: the method's declared default_backbone "
                                                    "(text-causal-mini for next_token), else text-encoder-mini")
    p.add_argument("--param", action="append", default=[], help="method hyperparameter KEY=VALUE")
    p.add_argument("--data", default=GLOSSES)
    p.add_argument("--minutes", type=float, default=20.0, help="pretraining budget (the protocol: 20)")
    p.add_argument("--max-steps", type=int, default=None, help="instead of the timed budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW peak lr (the methods' default would be 2.5e-4 at batch 64)")
    p.add_argument("--probe-n", type=int, default=10_000, help="class-balanced train glosses for the linear probe")
    p.add_argument("--finetune-n", type=int, default=5_000, help="class-balanced train glosses for fine-tuning")
    p.add_argument("--test-n", type=int, default=5_000, help="class-balanced test glosses (the split has 23,604)")
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--lr-backbone", type=float, default=3e-4)
    p.add_argument("--lr-head", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs")
    p.add_argument("--tag", default="", help="suffix of the result file's name")
    p.add_argument("--baseline", action="store_true", help="TF-IDF + logistic regression instead")
    p.add_argument("--C", type=float, default=10.0, help="baseline: inverse regularization")
    args = p.parse_args()
    if args.baseline:
        save("text_glosses_tfidf", baseline(args))
    else:
        save(f"text_glosses_{args.method}{args.tag}", run_method(args))


if __name__ == "__main__":
    main()
