"""B4 (issue 25): the video methods on moving-digits, against random init and raw pixels.

The data: moving-digits (``ssrl.data.moving_digits``) split once, stratified by digit, 80 % / 20 %
(seed 0), saved as ``benchmarks/.cache/b4/moving-digits-split.npz`` with both labels (``y`` the
digit, ``direction``). Each method pretrains on the training videos only, without their labels,
for a wall-clock ``--budget`` (the issue: 10 CPU minutes) or ``--max-steps``, one torch thread
(pin the process with ``taskset`` for a one-core figure). Then linear probes (ssrl's: standardised
frozen features) and kNN for the digit and the direction, on the held-out videos, beside the same
backbone at its random init; balanced accuracy. The digit is probed on each video's mean frame
feature; the direction on the frames' features in time order (``pool="order"``): the label is the
direction of the first step and a bounce reverses it later, so a readout must keep time order (the
clip's mean cannot see motion; its mean and trend forget what a bounce reverses). Beside them a
raw-pixel baseline: PCA of every clip's pixels (fitted on the training clips) to ``--pca``
dimensions, then the same kind of probe (standardised, multinomial logistic regression). Also
recorded: the pretext accuracy of the last epoch beside chance, steps, clips/s, peak RSS.

    python benchmarks/video_b4.py --methods arrow_of_time,clip_order,shuffle_and_learn,odd_one_out \\
        --backbones convnet-small,r2plus1d-mini --seeds 0,1,2 --budget 10m
    python benchmarks/video_b4.py --methods arrow_of_time --seeds 0 --max-steps 5 --tag _smoke
    python benchmarks/video_b4.py --merge _core0,_core1 --tag _all   # runs made side by side, one a core
    python benchmarks/video_b4.py --reevaluate digit --tag _core0      # the probes again, nothing trained

Not measured here: training from scratch on the labels (``ssrl evaluate RUN --protocol finetune
--label-fraction F`` on each run, as BENCHMARKS.md does at 5 %; at every label, an hour a run on one
core), and the pretext accuracy on static videos, which the unit tests bound by construction (every
pseudolabel gets the same input: ``tests/pretext/test_video_methods.py``).
Result: ``benchmarks/results/video_b4{TAG}.json`` (rows and summary; a killed invocation resumes).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, peak_rss_mb, pretrain_progress  # noqa: E402

import ssrl  # noqa: E402
from ssrl.data import moving_digits  # noqa: E402
from ssrl.data.split import stratified_split  # noqa: E402
from ssrl.pretext import METHODS  # noqa: E402

CACHE = Path(__file__).parent / ".cache" / "b4"
LABELS = ("digit", "direction")
POOL = {"digit": "mean", "direction": "order"}  # the video vector each probe reads: the first step needs order


def split_data() -> Path:
    """The moving-digits split (built once): x/y/direction for train and test."""
    path = CACHE / "moving-digits-split.npz"
    if not path.exists():
        videos, digit, direction = moving_digits.generate()
        train, test = stratified_split(torch.from_numpy(digit), 0.2, 0)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, x_train=videos[train], y_train=digit[train], direction_train=direction[train],
                 x_test=videos[test], y_test=digit[test], direction_test=direction[test])
    return path


def pixel_pca(data: Path, dims: int, seed: int) -> dict:
    """Balanced accuracy of a linear probe on the PCA of raw clip pixels, per label."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    arrays = np.load(data)
    x_train = arrays["x_train"].reshape(len(arrays["x_train"]), -1) / 255.0
    x_test = arrays["x_test"].reshape(len(arrays["x_test"]), -1) / 255.0
    out = {}
    for label, key in (("digit", "y"), ("direction", "direction")):
        probe = make_pipeline(PCA(dims, random_state=seed), StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(x_train, arrays[f"{key}_train"])
        out[label] = round(float(balanced_accuracy_score(arrays[f"{key}_test"], probe.predict(x_test))), 4)
    return out


def chance(method: str, params: dict) -> float:
    """The pretext's chance accuracy under ``params`` (``--param`` strings)."""
    cls = METHODS[method]
    if method == "clip_order":
        import math
        return 1 / math.factorial(int(params.get("clips", cls.Config().clips)))
    if method == "odd_one_out":
        return 1 / int(params.get("questions", cls.Config().questions))
    return 0.5


def one_row(data: Path, method: str, backbone: str, seed: int, args) -> dict:
    out = Path(args.runs) / f"{method}-{backbone}-s{seed}{args.tag}"
    schedule = {"budget": args.budget} if args.budget else {"max_steps": args.max_steps}
    start = time.time()
    params = dict(kv.split("=", 1) for kv in args.param)
    run = ssrl.pretrain(str(data), method, backbone=backbone, out=out, seed=seed, batch_size=args.batch_size,
                        progress=False, params=params, precision=args.precision, **schedule)
    wall = time.time() - start
    progress = pretrain_progress(run)
    row = {"method": method, "backbone": backbone, "seed": seed, **schedule, **progress,
           "pretrain_wall_s": round(wall, 1), "clips_per_s": round(progress["steps"] * args.batch_size / wall, 1),
           "peak_rss_mb": round(peak_rss_mb()), "params": params, "chance": chance(method, params)}
    return {**row, **probes(run, data, seed, LABELS)}


def probes(run: Path, data: Path, seed: int, labels: tuple[str, ...]) -> dict:
    """Linear and kNN balanced top-1 of ``labels``, each read through its ``POOL``, beside random init."""
    row = {}
    for label in labels:
        row[f"{label}_pool"] = POOL[label]
        for protocol in ("linear", "knn"):
            r = ssrl.evaluate(run, str(data), protocol, label_column=None if label == "digit" else "direction",
                              save=False, seed=seed, pool=POOL[label])
            row[f"{label}_{protocol}"] = round(r["balanced_top1"], 4)
            row[f"{label}_{protocol}_random_init"] = round(r["random_init_balanced_top1"], 4)
    return row


def reevaluate(path: Path, labels: tuple[str, ...], runs: Path) -> None:
    """The probes of ``labels`` again, as this code reads them, for every row of the result ``path``
    (its runs in ``runs``); the rows' earlier figures are kept under ``earlier``."""
    result = json.loads(path.read_text())
    data = split_data()
    tag = path.stem[len("video_b4"):]
    for row in result["rows"]:
        run = runs / f"{row['method']}-{row['backbone']}-s{row['seed']}{tag}"
        row.setdefault("earlier", {}).update({k: row[k] for k in list(row) if k.split("_")[0] in labels})
        row.update(probes(run, data, row["seed"], labels))
        print(json.dumps({k: row[k] for k in row if k != "earlier"}), flush=True)
    result["summary"] = summarise(result["rows"])
    result.setdefault("reevaluated", []).append({"labels": list(labels), "date": time.strftime("%Y-%m-%d"),
                                                 "command": " ".join(["python3", *sys.argv])})
    path.write_text(json.dumps(result, indent=1))


def _ms(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else None}


def summarise(rows: list[dict]) -> list[dict]:
    """Per method and backbone: mean ± std of every probe, its random init, and the paired gain;
    ``beats`` where the mean paired gain exceeds 2 stds of it (3 seeds or more)."""
    out = []
    for key in sorted({(r["method"], r["backbone"]) for r in rows}):
        group = [r for r in rows if (r["method"], r["backbone"]) == key]
        entry = {"method": key[0], "backbone": key[1], "seeds": len(group)}
        for label in LABELS:
            for protocol in ("linear", "knn"):
                name = f"{label}_{protocol}"
                gains = [r[name] - r[f"{name}_random_init"] for r in group]
                gain = _ms(gains)
                entry[name] = {"pretrained": _ms([r[name] for r in group]),
                               "random_init": _ms([r[f"{name}_random_init"] for r in group]), "gain": gain,
                               "beats": gain["std"] is not None and len(group) >= 3 and gain["mean"] > 2 * gain["std"]}
        accs = [r["pretext_acc_last_epoch"] for r in group if r["pretext_acc_last_epoch"] is not None]
        entry["pretext_acc"] = _ms(accs) if accs else None
        entry["chance"] = group[0]["chance"]
        out.append(entry)
    return out


def merge(paths: list[Path], out: Path) -> None:
    """One result of several invocations' files: their rows, invocations and pixel baseline."""
    parts = [json.loads(p.read_text()) for p in paths]
    result = {"benchmark": "B4", "merged_from": [p.name for p in paths], "pixel_pca": parts[0]["pixel_pca"],
              "invocations": [i for part in parts for i in part["invocations"]],
              "rows": [r for part in parts for r in part["rows"]]}
    result["summary"] = summarise(result["rows"])
    out.write_text(json.dumps(result, indent=1))
    print(f"saved {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="arrow_of_time,clip_order,shuffle_and_learn,odd_one_out")
    p.add_argument("--backbones", default="convnet-small")
    p.add_argument("--seeds", default="0,1,2", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--budget", default=None, help="wall-clock pretraining per run (the issue: 10m)")
    p.add_argument("--max-steps", type=int, default=None, help="instead of --budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="auto",
                   help="of pretraining: auto (the library's choice), 32-true, bf16-mixed")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a method parameter (repeatable)")
    p.add_argument("--pca", type=int, default=128, help="dimensions of the raw-pixel baseline")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default=str(CACHE / "runs"))
    p.add_argument("--tag", default="")
    p.add_argument("--merge", default=None,
                   help="comma-separated tags of runs made side by side (one process a core): their rows and "
                        "summary saved under --tag, nothing trained")
    p.add_argument("--reevaluate", default=None,
                   help="comma-separated labels (digit, direction): probe the runs of --tag's result again, "
                        "nothing trained")
    args = p.parse_args()
    if args.reevaluate:
        reevaluate(RESULTS / f"video_b4{args.tag}.json", tuple(args.reevaluate.split(",")), Path(args.runs))
        return
    if args.merge:
        merge([RESULTS / f"video_b4{t}.json" for t in args.merge.split(",")], RESULTS / f"video_b4{args.tag}.json")
        return
    if (args.budget is None) == (args.max_steps is None):
        sys.exit("give one of --budget and --max-steps")
    torch.set_num_threads(args.threads)
    data = split_data()
    path = RESULTS / f"video_b4{args.tag}.json"
    result = json.loads(path.read_text()) if path.exists() else {"benchmark": "B4", "rows": []}
    result.setdefault("invocations", []).append({"command": " ".join(["python3", *sys.argv]), "machine": machine(),
                                                 "date": time.strftime("%Y-%m-%d")})
    if "pixel_pca" not in result:
        result["pixel_pca"] = {"dims": args.pca, **pixel_pca(data, args.pca, 0)}
        print(f"raw-pixel PCA-{args.pca} linear probe: {result['pixel_pca']}", flush=True)
    done = {(r["method"], r["backbone"], r["seed"]) for r in result["rows"]}
    for method in args.methods.split(","):
        for backbone in args.backbones.split(","):
            for seed in args.seeds:
                if (method, backbone, seed) in done:
                    continue
                print(f"{method} {backbone} seed {seed}", flush=True)
                row = one_row(data, method, backbone, seed, args)
                print(json.dumps(row), flush=True)
                result["rows"].append(row)
                result["summary"] = summarise(result["rows"])
                path.write_text(json.dumps(result, indent=1))
    result["summary"] = summarise(result["rows"])
    path.write_text(json.dumps(result, indent=1))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
