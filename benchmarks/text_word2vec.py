"""word2vec on the WordNet glosses (B2's data): training speed in words per second, nearest
neighbours of a few words, and the B2 linear probe on mean word vectors beside random init.

Words per second counts every word of the batches read (before subsampling drops frequent
words), as word2vec's C tool reports it; steady state, after the first steps.

    python benchmarks/text_word2vec.py --architecture skipgram --minutes 3
"""

import argparse
import shutil
import time
from pathlib import Path

from common import peak_rss_mb, save
from ssrl.api import labeled, pretrain
from ssrl.data.tokenize import FIRST_ORDINARY
from ssrl.evaluation import extract_features, linear_probe_top1
from ssrl.runs import init_backbone, load_backbone, run_config
from ssrl.word_vectors import nearest_words, word_vectors
from text_glosses import GLOSSES, TokenMeter

QUERIES = ["dog", "river", "red", "music", "run", "king", "tree", "money"]


class WordMeter(TokenMeter):
    """TokenMeter counting words (ordinary tokens) instead of all real tokens."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start, self._tokens = time.perf_counter(), int((batch[0] >= FIRST_ORDINARY).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--architecture", default="skipgram", choices=["skipgram", "cbow"])
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--epochs", type=int, default=5, help="the schedule's length; the budget may stop it first")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--runs", default="runs")
    args = p.parse_args()
    out = Path(args.runs) / f"w2v-{args.architecture}"
    shutil.rmtree(out, ignore_errors=True)
    meter = WordMeter()
    start = time.perf_counter()
    run = pretrain(GLOSSES, "word2vec", out=out, epochs=args.epochs, batch_size=args.batch_size, text_column="gloss",
                   vocab_size=8000, budget=f"{round(args.minutes * 60)}s", callbacks=(meter,), progress=False,
                   params={"architecture": args.architecture})
    wall = time.perf_counter() - start
    step_s, words_s = meter.steady()
    train, test, split = labeled(run, GLOSSES, label_column="lexname", text_column="gloss")  # token ids
    probe = {}
    for name, backbone in (("pretrained", load_backbone(run)), ("random_init", init_backbone(run_config(run)))):
        train_f, test_f = extract_features(backbone, train.rows), extract_features(backbone, test.rows)
        probe[name] = linear_probe_top1(train_f, train.labels, test_f, test.labels)
    words, vectors = word_vectors(run)
    neighbours = {w: [n for n, _ in nearest_words(words, vectors, w, 5)] for w in QUERIES}
    save(f"text_word2vec_{args.architecture}", {
        "method": "word2vec", "architecture": args.architecture, "budget_minutes": args.minutes,
        "batch_size": args.batch_size, "steps": len(meter.steps), "wall_s": round(wall, 1),
        "s_per_step": round(step_s, 4), "words_per_s": round(words_s), "config": run_config(run).__dict__,
        "linear_probe_lexname_top1": probe, "probe_split": split, "n_train": len(train), "n_test": len(test),
        "nearest_neighbours": neighbours, "peak_rss_mb": round(peak_rss_mb())})


if __name__ == "__main__":
    main()
