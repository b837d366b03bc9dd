"""Benchmark B6 (../shared/BENCHMARKS.md, issue 23): small data. Do ssrl's defaults beat the
random-init floor on balanced accuracy when D_s holds 1,000-5,000 images or documents?

The sets, built once by this script (fixed seed ``BUILD_SEED``) into ``--cache``
(default ``benchmarks/.cache/b6/``, which a ``.gitignore`` of its own keeps out of git):

- ``fm1k``, ``fm5k``: class-balanced subsets of the Fashion-MNIST training set, 100 and 500
  images per class (``fm1k`` is part of ``fm5k``).
- ``fm1k-lt``, ``fm5k-lt``: long-tailed subsets of the same totals: the classes, taken in a fixed
  shuffled order, get n ∝ 1/(r+1)^1.5 images at rank r = 0..9 (largest remainder rounding), a
  ratio of about 31 between the largest and the smallest class (>= 30 and >= 5 images checked);
  the counts are printed when the sets are built and saved in ``b6.json``. Each class's images are
  the first of the same per-class shuffle as the balanced sets.
- every Fashion-MNIST set is tested on the same class-balanced 2,000 images of the test set
  (200 per class), so balanced accuracy and top-1 coincide there.
- ``digits``: scikit-learn's 1,797 8×8 digits, split as ``ssrl evaluate --data digits`` splits
  them (stratified 20 % held out, seed 0: 1,438 train, 359 test). The name itself is not used
  because pretraining on it reads all 1,797 images, the held-out ones included, and the held-out
  split would follow each evaluation seed; the saved split (as ``ssrl demo`` does) keeps the test
  images out of D_s and the same for every seed.
- ``glosses5k``: 5,000 glosses of the WordNet train split (``../shared/datasets/wordnet-glosses``),
  drawn per lexname in proportion to the split (at least one per class: the natural long tail of
  45 classes), and at most 50 glosses per lexname of the test split (fewer where the class has
  fewer): a TSV with the source's columns (``split``, ``synset``, ``lexname``, ``lemmas``, ``gloss``).

Formats: each image set is an ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``
(uint8 (N, 1, H, W)); the text set a ``.tsv`` whose ``split`` column holds ``train``/``test``.
``ssrl pretrain --data FILE`` reads only the train part, without labels (D_s); ``ssrl evaluate
RUN --data FILE`` trains the probe on the train part's labels and tests on the test part:

    ssrl pretrain --data benchmarks/.cache/b6/fm1k-lt.npz --method simclr --out runs/b6
    ssrl evaluate runs/b6 --data benchmarks/.cache/b6/fm1k-lt.npz --protocol linear
    ssrl pretrain --data benchmarks/.cache/b6/glosses5k.tsv --method masked_lm --out runs/b6t
    ssrl evaluate runs/b6t --data benchmarks/.cache/b6/glosses5k.tsv --label-column lexname --protocol knn

What runs: for every set × method × schedule × seed, ``ssrl.api.pretrain(set, method, seed=s)``
with a schedule that is either ``default`` (no epochs, batch size, steps or budget given: the
library chooses them from the data) or a wall-clock budget ``2m``, ``5m``, ``10m`` (``budget=``,
``epochs=100`` so that the budget stops it); then ``evaluate(run, set, "knn", seed=s)`` and
``evaluate(run, set, "linear", seed=s)``. Image sets run ``simclr, byol, vicreg, rotation, mae``,
the text set ``masked_lm, next_token`` (``--methods`` picks others; each runs on the sets of its
modality).

What is measured, per row: kNN and linear-probe top-1 and balanced accuracy (mean per-class
recall; older ssrl versions report top-1 only, and the summary then says it used top-1), each
beside the same backbone at its random init, the kNN's k, pretraining wall time (the whole
``pretrain`` call) and training time (Lightning's fit loop), optimizer steps done, passes over
the data (steps × batch size / training set size), and the resolved configuration (epochs, batch size, lr, backbone, ...) from ``RUN/config.yaml``.
Per (set, method, schedule), over the seeds (sample std, ddof 1):

- mean ± std of pretrained and random-init balanced accuracy (and top-1), per protocol;
- ``beats_floor_unpaired``: pretrained mean − floor mean > 2 × the pretrained std;
- ``beats_floor_paired``: the mean of the per-seed differences (pretrained − floor of the same
  seed, the same initialization) > 2 × the std of those differences. The floor is as
  deterministic per seed as the pretrained figure, so the pairing removes the spread the two
  share. **B6's "done when" (the defaults beat random init on balanced accuracy on every small
  set) reads this paired verdict on the linear probe's balanced accuracy (``beats_floor`` in the
  summary), for the ``default`` schedule; kNN's paired verdict is saved beside it. With one
  seed there is no std and no verdict (null).

Commands:

    python benchmarks/small_data.py                                   # every set, its modality's methods, default schedule, seeds 0,1,2
    python benchmarks/small_data.py --schedules default,2m,5m,10m --tag _budgets
    python benchmarks/small_data.py --sets fm1k-lt,fm5k-lt --methods simclr,rotation
    python benchmarks/small_data.py --sets fm1k-lt --seeds 0 --schedules 250steps,500steps,1000steps --tag _steps  # min_steps
    python benchmarks/small_data.py --table                           # the summary table of a saved result
    python benchmarks/small_data.py --sets digits --option image_size=16 --tag _digits16   # a variant
    python benchmarks/small_data.py --sets fm1k,glosses5k --methods rotation,next_token --seeds 0 --smoke   # a check in seconds

Results: ``benchmarks/results/small_data{TAG}.json`` (``--smoke`` adds ``_smoke``) holds every
row, the summary and the sets' description; it is rewritten after every row, so a killed
invocation keeps what finished, and a rerun with the same tag skips the rows already there
(a row that failed is tried again). Run directories go to ``CACHE/runs/`` and are deleted after
evaluation unless ``--keep-runs``. ``--smoke`` stops every pretraining after 5 steps
(``max_steps``): a check of the script, not a result.
"""

import argparse
import datetime
import gzip
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine

os.environ.setdefault("SSRL_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))

from ssrl.api import evaluate, pretrain
from ssrl.data import load_labeled, load_source
from ssrl.pretext import get_method
from ssrl.runs import run_config

BUILD_SEED = 23          # the number: every subset is drawn from it
BUILD_VERSION = 1        # bump when the construction changes: the cache is rebuilt
CACHE = Path(__file__).parent / ".cache" / "b6"
GLOSSES = Path(os.environ.get("SSRL_DATA_DIR", Path(__file__).parents[2] / "shared" / "datasets")) / "wordnet-glosses" / "glosses.tsv.gz"
IMAGE_SETS = ("fm1k", "fm5k", "fm1k-lt", "fm5k-lt", "digits")
TEXT_SETS = ("glosses5k",)
SETS = (*IMAGE_SETS, *TEXT_SETS)
METHODS = {"image": ("simclr", "byol", "vicreg", "rotation", "mae"), "text": ("masked_lm", "next_token")}
SCHEDULES = ("default", "2m", "5m", "10m", "250steps", "500steps", "1000steps", "2000steps")
SMOKE_STEPS = 5
FM_TEST_PER_CLASS = 200  # 2,000 test images
ZIPF_EXPONENT = 1.5      # n_r ∝ 1/(r+1)^1.5: largest/smallest = 10^1.5 ≈ 31.6
LT_MIN_RATIO, LT_MIN_COUNT = 30, 5
GLOSSES_TRAIN, GLOSSES_TEST_PER_CLASS = 5000, 50
TEXT_OPTIONS = {"label_column": "lexname"}


# ---------------------------------------------------------------- the data sets

def largest_remainder(weights: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Integer counts proportional to ``weights`` that sum to ``total``, each >= ``minimum``."""
    counts = np.full(len(weights), minimum)
    share = weights / weights.sum() * (total - counts.sum())
    counts += np.floor(share).astype(int)
    for i in np.argsort(-(share - np.floor(share)), kind="stable")[:total - counts.sum()]:
        counts[i] += 1
    return counts


def zipf_counts(total: int, classes: int = 10) -> np.ndarray:
    """Counts by rank: n_r ∝ 1/(r+1)^ZIPF_EXPONENT, summing to ``total``; ratio and minimum checked."""
    counts = largest_remainder(1 / np.arange(1, classes + 1) ** ZIPF_EXPONENT, total)
    assert counts.min() >= LT_MIN_COUNT and counts.max() / counts.min() >= LT_MIN_RATIO, counts
    return counts


def _content_hash(arrays: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()[:16]


def _save_npz(path: Path, x_train, y_train, x_test, y_test) -> dict:
    arrays = {"x_train": x_train, "y_train": y_train.astype(np.int64), "x_test": x_test, "y_test": y_test.astype(np.int64)}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return {"path": str(path), "n_train": len(x_train), "n_test": len(x_test),
            "train_per_class": np.bincount(y_train).tolist(), "test_per_class": np.bincount(y_test).tolist(),
            "sha256_arrays": _content_hash(arrays)}


def build_image_sets(cache: Path) -> dict:
    """fm1k, fm5k, fm1k-lt, fm5k-lt and digits as .npz files with their own test split."""
    rng = np.random.default_rng(BUILD_SEED)
    train, test = load_source("fashion-mnist", split="train"), load_source("fashion-mnist", split="test")
    x, y = train.images.numpy(), train.labels.numpy()
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(10)]  # one shuffle per class, shared
    test_y = test.labels.numpy()
    test_idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(test_y == c))[:FM_TEST_PER_CLASS]
                                       for c in range(10)]))
    x_test, y_test = test.images.numpy()[test_idx], test_y[test_idx]
    order = rng.permutation(10)  # which class is the head, which the tail
    sets = {}
    for name, total in (("fm1k", 1000), ("fm5k", 5000)):
        for lt in (False, True):
            counts = np.zeros(10, dtype=int)
            if lt:
                counts[order] = zipf_counts(total)
            else:
                counts[:] = total // 10
            idx = rng.permutation(np.concatenate([per_class[c][:counts[c]] for c in range(10)]))
            key = f"{name}-lt" if lt else name
            sets[key] = {**_save_npz(cache / f"{key}.npz", x[idx], y[idx], x_test, y_test),
                         "source": "fashion-mnist train (IDX); test: 200 per class of its t10k images",
                         "classes": train.classes}
            if lt:
                sets[key]["head_to_tail"] = [train.classes[c] for c in order]
                sets[key]["ratio"] = round(counts.max() / counts.min(), 1)
    tr, te, note = load_labeled("digits", seed=0)  # the split `ssrl evaluate --data digits` uses at seed 0
    sets["digits"] = {**_save_npz(cache / "digits.npz", tr.images.numpy(), tr.labels.numpy(),
                                  te.images.numpy(), te.labels.numpy()),
                      "source": f"scikit-learn digits; {note}", "classes": tr.classes}
    return sets


def build_glosses(cache: Path) -> dict:
    """glosses5k.tsv: 5,000 train glosses in proportion to the lexnames, <= 50 test glosses per lexname."""
    with gzip.open(GLOSSES, "rt", encoding="utf-8", newline="") as f:
        header, *lines = f.read().splitlines()
    columns = header.split("\t")
    split_at, label_at = columns.index("split"), columns.index("lexname")
    rows = {"train": {}, "test": {}}
    for line in lines:
        fields = line.split("\t")
        rows[fields[split_at]].setdefault(fields[label_at], []).append(line)
    rng = np.random.default_rng(BUILD_SEED)
    classes = sorted(rows["train"])
    sizes = np.array([len(rows["train"][c]) for c in classes])
    counts = largest_remainder(sizes.astype(float), GLOSSES_TRAIN, minimum=1)
    train = [rows["train"][c][i] for c, n in zip(classes, counts) for i in rng.permutation(len(rows["train"][c]))[:n]]
    test = [rows["test"][c][i] for c in sorted(rows["test"])
            for i in rng.permutation(len(rows["test"][c]))[:GLOSSES_TEST_PER_CLASS]]
    train = [train[i] for i in rng.permutation(len(train))]
    path = cache / "glosses5k.tsv"
    text = "\n".join([header, *train, *test]) + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    test_counts = {c: min(len(rows["test"][c]), GLOSSES_TEST_PER_CLASS) for c in sorted(rows["test"])}
    return {"path": str(path), "n_train": len(train), "n_test": len(test),
            "train_per_class": dict(zip(classes, counts.tolist())), "test_per_class": test_counts,
            "source": f"{GLOSSES}: train split in proportion to lexname (>= 1 each), test split <= "
                      f"{GLOSSES_TEST_PER_CLASS} per lexname", "label_column": "lexname",
            "sha256_arrays": hashlib.sha256(text.encode()).hexdigest()[:16]}


def data_sets(cache: Path, rebuild: bool = False) -> dict:
    """The B6 sets' description (b6.json in the cache), building them first if needed."""
    manifest = cache / "b6.json"
    if not rebuild and manifest.is_file():
        sets = json.loads(manifest.read_text())
        if sets.get("version") == BUILD_VERSION and all(Path(s["path"]).is_file() for s in sets["sets"].values()):
            return sets
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache.parent / ".gitignore" if cache.parent.name == ".cache" else cache / ".gitignore"
    ignore.write_text("*\n")  # built data and runs never go into git
    print(f"building the B6 sets into {cache} (seed {BUILD_SEED})", flush=True)
    sets = {"version": BUILD_VERSION, "seed": BUILD_SEED,
            "sets": {**build_image_sets(cache), "glosses5k": build_glosses(cache)}}
    manifest.write_text(json.dumps(sets, indent=2) + "\n")
    for name, s in sets["sets"].items():
        counts = s["train_per_class"]
        counts = list(counts.values()) if isinstance(counts, dict) else counts
        extra = f", head to tail {s['head_to_tail']}, ratio {s['ratio']}" if "ratio" in s else ""
        print(f"  {name}: {s['n_train']} train, {s['n_test']} test; train per class {counts}{extra}", flush=True)
    return sets


# ---------------------------------------------------------------- the runs

class FitClock(Callback):
    """Seconds in Lightning's fit loop and optimizer steps done."""

    def on_train_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start
        self.steps = trainer.global_step


def schedule_options(schedule: str, smoke: bool) -> dict:
    if schedule.endswith("steps"):  # a fixed number of optimizer steps (the epochs span them): min_steps
        options = {"max_steps": int(schedule[: -len("steps")])}
    else:
        options = {} if schedule == "default" else {"budget": schedule}
    return {**options, "max_steps": SMOKE_STEPS} if smoke else options


def run_row(set_name: str, info: dict, modality: str, method: str, schedule: str, seed: int, args) -> dict:
    row = {"set": set_name, "modality": modality, "method": method, "schedule": schedule, "seed": seed,
           "data": info["path"], "data_sha256": info["sha256_arrays"], "date": datetime.date.today().isoformat()}
    options = {**schedule_options(schedule, args.smoke), **args.option}
    row["given"] = options
    out = Path(args.runs) / f"{set_name}-{method}-{schedule}-s{seed}{args.tag}"
    shutil.rmtree(out, ignore_errors=True)  # left by a killed invocation: start again
    data_options = TEXT_OPTIONS if modality == "text" else {}
    clock = FitClock()
    try:
        start = time.perf_counter()
        run = pretrain(info["path"], method, out=out, seed=seed, progress=False, callbacks=(clock,), **options)
        row["pretrain_wall_s"] = round(time.perf_counter() - start, 1)
        row["train_s"] = round(clock.seconds, 1)
        cfg = run_config(run)
        row["steps"] = clock.steps
        row["passes"] = round(clock.steps * cfg.batch_size / info["n_train"], 2)  # steps × batch / train size
        row["config"] = {k: getattr(cfg, k) for k in ("backbone", "epochs", "batch_size", "max_steps", "budget",
                                                     "optimizer", "lr", "weight_decay", "warmup_epochs", "image_size")}
        for protocol in ("knn", "linear"):
            start = time.perf_counter()
            result = evaluate(run, info["path"], protocol, seed=seed, save=False, **data_options)
            row[protocol] = {k: v for k, v in result.items() if k not in ("run", "data")}
            row[protocol]["eval_s"] = round(time.perf_counter() - start, 1)
    except Exception as exc:  # noqa: BLE001  (a method that refuses a set stays in the table with its error)
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    finally:
        if not args.keep_runs:
            shutil.rmtree(out, ignore_errors=True)
    if args.keep_runs:
        row["run_dir"] = str(out)
    return row


# ---------------------------------------------------------------- summary and table

def _mean_std(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else None}


def protocol_summary(rows: list[dict], protocol: str) -> dict:
    """Mean ± std over seeds of one protocol's figures, and both verdicts against the floor."""
    results = [r[protocol] for r in rows]
    balanced = all(r.get("balanced_top1") is not None and r.get("random_init_balanced_top1") is not None
                   for r in results)
    key = "balanced_top1" if balanced else "top1"
    pre = [r[key] for r in results]
    floor = [r[f"random_init_{key}"] for r in results]
    diff = [a - b for a, b in zip(pre, floor)]
    out = {"metric": key if balanced else "top1 (this ssrl reports no balanced_top1)",
           "pretrained": _mean_std(pre), "random_init": _mean_std(floor), "difference": _mean_std(diff),
           "top1": _mean_std([r["top1"] for r in results]),
           "random_init_top1": _mean_std([r["random_init_top1"] for r in results])}
    if len(rows) > 1:
        out["beats_floor_unpaired"] = statistics.fmean(pre) - statistics.fmean(floor) > 2 * statistics.stdev(pre)
        out["beats_floor_paired"] = statistics.fmean(diff) > 2 * statistics.stdev(diff)
    else:
        out["beats_floor_unpaired"] = out["beats_floor_paired"] = None
    if protocol == "knn":
        out["k"] = sorted({r["k"] for r in results if r.get("k") is not None})
    return out


def summarize(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["method"], r["schedule"]), []).append(r)
    summary = []
    for (set_name, method, schedule), group in groups.items():
        ok = sorted((r for r in group if "error" not in r), key=lambda r: r["seed"])
        entry = {"set": set_name, "method": method, "schedule": schedule, "seeds": [r["seed"] for r in ok],
                 "errors": {r["seed"]: r["error"] for r in group if "error" in r}}
        if ok:
            entry.update({p: protocol_summary(ok, p) for p in ("linear", "knn")})
            entry["beats_floor"] = entry["linear"]["beats_floor_paired"]
            entry["steps"] = _mean_std([r["steps"] for r in ok])
            entry["pretrain_wall_s"] = _mean_std([r["pretrain_wall_s"] for r in ok])
            entry["resolved"] = {k: sorted({r["config"][k] for r in ok}, key=str) for k in ("epochs", "batch_size")}
        summary.append(entry)
    return summary


def _ms(s: dict) -> str:
    return f"{s['mean']:.3f}" if s["std"] is None else f"{s['mean']:.3f}±{s['std']:.3f}"


def _verdict(v) -> str:
    return "-" if v is None else "yes" if v else "no"


def print_table(result: dict) -> None:
    print("\nB6 small data: balanced accuracy (mean±std over seeds), pretrained vs random init; "
          "'beats' = mean per-seed difference > 2 std of the differences (paired) / "
          "pretrained mean - floor mean > 2 pretrained std (unpaired)")
    head = ("set", "method", "schedule", "seeds", "epochs", "batch", "steps", "linear", "(random)", "beats",
            "knn", "(random)", "beats", "k")
    lines = [head]
    for e in result["summary"]:
        if "linear" not in e:
            lines.append((e["set"], e["method"], e["schedule"], "0", "", "", "", "error: " + next(iter(e["errors"].values()))[:60],
                          "", "", "", "", "", ""))
            continue
        lin, knn = e["linear"], e["knn"]
        lines.append((e["set"], e["method"], e["schedule"], ",".join(map(str, e["seeds"])),
                      "/".join(map(str, e["resolved"]["epochs"])), "/".join(map(str, e["resolved"]["batch_size"])),
                      f"{e['steps']['mean']:.0f}", _ms(lin["pretrained"]), _ms(lin["random_init"]),
                      f"{_verdict(lin['beats_floor_paired'])}/{_verdict(lin['beats_floor_unpaired'])}",
                      _ms(knn["pretrained"]), _ms(knn["random_init"]),
                      f"{_verdict(knn['beats_floor_paired'])}/{_verdict(knn['beats_floor_unpaired'])}",
                      ",".join(map(str, knn.get("k", [])))))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print("  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    metrics = {e[p]["metric"] for e in result["summary"] for p in ("linear", "knn") if p in e}
    if metrics - {"balanced_top1"}:
        print(f"metric used: {', '.join(sorted(metrics))}")


# ---------------------------------------------------------------- main

def _write(path: Path, result: dict) -> None:
    result["summary"] = summarize(result["rows"])
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


def _plan(args) -> list[tuple[str, str, str, str, int]]:
    sets = args.sets.split(",")
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        sys.exit(f"unknown set(s) {unknown}; B6 has {', '.join(SETS)}")
    schedules = args.schedules.split(",")
    if set(schedules) - set(SCHEDULES):
        sys.exit(f"unknown schedule(s) {sorted(set(schedules) - set(SCHEDULES))}; choose from {', '.join(SCHEDULES)}")
    chosen = args.methods.split(",") if args.methods else None
    modality_of = {m: get_method(m).modality for m in chosen or ()}
    plan = []
    for schedule in schedules:
        for set_name in sets:
            modality = "text" if set_name in TEXT_SETS else "image"
            methods = [m for m in chosen if modality_of[m] == modality] if chosen else METHODS[modality]
            plan += [(set_name, modality, m, schedule, s) for m in methods for s in args.seeds]
    if chosen:
        unused = sorted(set(chosen) - {p[2] for p in plan})
        if unused:
            sys.exit(f"method(s) {unused} fit none of the chosen sets' modalities")
    return plan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    p.add_argument("--methods", default=None, help="comma-separated; each runs on the sets of its modality "
                                                   f"(default: image {','.join(METHODS['image'])}; "
                                                   f"text {','.join(METHODS['text'])})")
    p.add_argument("--schedules", default="default", help=f"comma-separated, from {', '.join(SCHEDULES)}")
    p.add_argument("--seeds", default="0,1,2", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--tag", default="", help="suffix of the result file (and of the run directories)")
    p.add_argument("--cache", default=str(CACHE), help="where the sets are built (and runs go)")
    p.add_argument("--runs", default=None, help="run directories (default: CACHE/runs)")
    p.add_argument("--keep-runs", action="store_true", help="keep each run directory after its evaluation")
    p.add_argument("--rebuild", action="store_true", help="build the sets again even if the cache has them")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--smoke", action="store_true", help=f"stop every pretraining after {SMOKE_STEPS} steps; "
                                                        "results go to small_data{TAG}_smoke.json")
    p.add_argument("--table", action="store_true", help="only print the table of the saved result of --tag")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a pretrain option for every row (image_size=16, views.hflip=0, "
                        "params.temperature=0.2); use with --tag (repeatable)")
    args = p.parse_args()
    args.option = _options(args.option)
    if args.smoke:
        args.tag += "_smoke"
    path = RESULTS / f"small_data{args.tag}.json"
    if args.table:
        print_table(json.loads(path.read_text()))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = _plan(args)
    cache = Path(args.cache)
    args.runs = args.runs or str(cache / "runs")
    sets = data_sets(cache, args.rebuild)
    RESULTS.mkdir(exist_ok=True)
    result = json.loads(path.read_text()) if path.is_file() else {
        "benchmark": "B6", "criterion": "beats_floor_paired: mean(pretrained - random init, per seed) > "
                                        "2 * stdev of those differences (ddof 1), on balanced accuracy",
        "smoke": args.smoke, "rows": []}
    result["sets"] = sets
    result.setdefault("invocations", []).append({"command": " ".join([Path(sys.executable).name, *sys.argv]),
                                                 "machine": machine(), "date": datetime.date.today().isoformat()})
    done = {(r["set"], r["method"], r["schedule"], r["seed"]) for r in result["rows"] if "error" not in r}
    todo = [job for job in plan if (job[0], job[2], job[3], job[4]) not in done]
    print(f"{len(plan)} rows planned, {len(plan) - len(todo)} already in {path}", flush=True)
    for n, (set_name, modality, method, schedule, seed) in enumerate(todo, 1):
        print(f"[{n}/{len(todo)}] {set_name} {method} {schedule} seed {seed}", flush=True)
        row = run_row(set_name, sets["sets"][set_name], modality, method, schedule, seed, args)
        result["rows"] = [r for r in result["rows"] if (r["set"], r["method"], r["schedule"], r["seed"])
                          != (set_name, method, schedule, seed)] + [row]
        _write(path, result)
        if "error" in row:
            print(f"    error: {row['error']}", flush=True)
        else:
            print(f"    {row['steps']} steps, {row['pretrain_wall_s']} s; linear {_row_figure(row['linear'])}, "
                  f"knn {_row_figure(row['knn'])}", flush=True)
    _write(path, result)
    print_table(result)
    print(f"\nsaved {path}")


def _options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs as pretrain options; ``views.hflip=0`` and ``params.temperature=0.2``
    go into the ``views`` and ``params`` dicts."""
    options: dict = {}
    for kv in pairs:
        key, value = kv.split("=", 1)
        group, _, field = key.rpartition(".")
        (options.setdefault(group, {}) if group else options)[field] = _number(value)
    return options


def _number(value: str) -> object:
    if "," in value:  # views.crop_scale=0.4,1.0
        return tuple(_number(v) for v in value.split(","))
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _row_figure(r: dict) -> str:
    key = "balanced_top1" if r.get("balanced_top1") is not None else "top1"
    return f"{key} {r[key]:.3f} (random init {r[f'random_init_{key}']:.3f})"


if __name__ == "__main__":
    main()
