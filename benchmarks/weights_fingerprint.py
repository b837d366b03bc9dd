"""Fingerprints of every method's trained weights on tiny runs: does a refactoring change results?

Each registered method pretrains for a few steps (1 torch thread, seed 0, its default backbone)
on small data: the first 1,024 Fashion-MNIST images, 256 random colour images for the methods
that need colour, 512 WordNet glosses for text; the fingerprint is a hash of the saved
``backbone.safetensors``. Run it on two
versions of ssrl (one of them through ``PYTHONPATH=OTHER/src``) and compare the two JSON files:
equal hashes mean bit-identical training.

    python benchmarks/weights_fingerprint.py                        # every method, this checkout
    PYTHONPATH=/tmp/old/src python benchmarks/weights_fingerprint.py --tag _old
    python benchmarks/weights_fingerprint.py --compare results/weights_fingerprint_old.json
"""

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save  # noqa: E402

from ssrl.api import pretrain  # noqa: E402
from ssrl.pretext import METHODS  # noqa: E402

GLOSSES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wordnet-glosses" / "glosses.tsv.gz"


def runs(colour: Path) -> dict[str, tuple[str, dict]]:
    """(data, options) of each method's tiny run; the backbone is the method's own default."""
    out = {}
    for name, cls in sorted(METHODS.items()):
        if cls.modality == "text":
            out[name] = (str(GLOSSES), dict(text_column="gloss", batch_size=64, limit=512, max_steps=4, vocab_size=500))
        elif cls.needs_channels == 3:
            out[name] = (str(colour), dict(batch_size=64))
        else:
            out[name] = ("fashion-mnist", dict(limit=1024))
    return out


def fingerprint(run: Path) -> str:
    weights = load_file(run / "backbone.safetensors")
    return hashlib.sha1(b"".join(weights[k].numpy().tobytes() for k in sorted(weights))).hexdigest()[:12]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="all", help="comma-separated, or all")
    p.add_argument("--tag", default="", help="suffix of the result file")
    p.add_argument("--compare", type=Path, default=None, help="a saved result to compare with (no runs)")
    args = p.parse_args()
    if args.compare:
        mine, other = (json.loads(Path(f).read_text())["fingerprints"]
                       for f in (RESULTS / "weights_fingerprint.json", RESULTS.parent / args.compare))
        for name in sorted(set(mine) | set(other)):
            print(f"{name:20} {mine.get(name, '-'):14} {other.get(name, '-'):14} "
                  f"{'same' if mine.get(name) == other.get(name) else 'DIFFERENT'}")
        return
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        colour = tmp / "colour.npy"
        np.save(colour, np.random.default_rng(0).integers(0, 256, (256, 32, 32, 3), dtype=np.uint8))
        chosen = runs(colour) if args.methods == "all" else {m: runs(colour)[m] for m in args.methods.split(",")}
        prints = {}
        for name, (data, options) in chosen.items():
            run = tmp / name
            pretrain(data, name, out=run, epochs=1, progress=False, **{"batch_size": 256, **options})
            prints[name] = fingerprint(run)
            print(name, prints[name], flush=True)
            shutil.rmtree(run)
    save("weights_fingerprint" + args.tag, {"benchmark": "bit-identity of tiny training runs", "fingerprints": prints})


if __name__ == "__main__":
    main()
