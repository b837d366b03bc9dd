"""``ssrl bench``: which pretext task suits my data?

Every method pretrains the same backbone on the same data for the same wall-clock budget
(``RunConfig.budget``, Lightning's ``max_time``), is evaluated with the same protocol against its
random-init floor, and the methods are ranked by balanced accuracy (mean per-class recall: top-1
on balanced data, and not fooled by the largest class on unbalanced data; top-1 is kept beside it). A method that fails (say, a colour task
on grayscale data) is kept in the table with its error, ranked last, never dropped.

``DIR/METHOD/`` holds each run directory; ``DIR/bench.json`` and ``DIR/bench.png`` the ranking.

A budget too short for a method is a result that says nothing about the method: each row has
``enough_steps`` (whether the run got the optimizer steps its method needs on small data to beat
its random-init floor, ``Pretext.min_steps``) and, when it did not, a ``warning`` saying so,
also stated as it happens (``ssrl.notices``) and printed under the table.
"""

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from ssrl.api import evaluate, pretrain  # noqa: E402
from ssrl.config import parse_budget  # noqa: E402
from ssrl.data.objects import as_spec  # noqa: E402
from ssrl.errors import SsrlError  # noqa: E402
from ssrl.files import save_atomic, write_atomic  # noqa: E402
from ssrl.notices import notice  # noqa: E402
from ssrl.pretext import get_method  # noqa: E402
from ssrl.report.metrics import steps_done  # noqa: E402

BENCH_PROTOCOLS = ("knn", "linear")


def bench(data: str, methods: list[str], budget: str, *, protocol: str = "knn", labeled: str | None = None,
          out: str | Path | None = None, epochs: int | None = None, progress: bool = True, **options) -> dict:
    """Pretrain each of ``methods`` on ``data`` for ``budget`` (``"10m"``), evaluate each on
    ``labeled`` (default: ``data``'s own labels) with ``protocol``, and rank them.

    The budget ends each run (and its learning-rate and momentum schedules) unless ``epochs``,
    a bound on each run, ends it first. ``options`` are further ``RunConfig``
    fields shared by every run (backbone, batch_size, seed, limit, image_size, skip_bad, ...;
    ``skip_bad`` also leaves unreadable labeled images out of the evaluations). Returns ``{"rows": [...ranked...], "best", "plot", ...}``."""
    if protocol not in BENCH_PROTOCOLS:
        raise SsrlError(f"bench evaluates with {' or '.join(BENCH_PROTOCOLS)}, not {protocol!r}")
    if not methods or len(set(methods)) != len(methods):
        raise SsrlError(f"--methods needs distinct method names, got {methods}")
    for name in methods:
        get_method(name)  # an unknown name fails now, not after the first runs
    parse_budget(budget)
    data, labeled = as_spec(data), as_spec(labeled)  # objects held once: every method reads the same
    out = Path(out) if out else Path("runs") / f"bench-{Path(data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    labeled = labeled or data
    rows = [_one(data, name, budget, protocol, labeled, out / name, epochs, progress, options) for name in methods]
    rows.sort(key=lambda r: -1.0 if r["balanced_top1"] is None else r["balanced_top1"], reverse=True)
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    result = {"data": data, "labeled": labeled, "budget": budget, "protocol": protocol, "epochs": epochs,
              "options": options, "rows": rows, "best": rows[0]["method"] if rows[0]["top1"] is not None else None}
    result["plot"] = str(plot_bench(rows, out / "bench.png", f"{protocol} balanced accuracy on {Path(labeled).name}, "
                                                            f"{budget} of pretraining each"))
    write_atomic(out / "bench.json", json.dumps(result, indent=2) + "\n")
    return result


def _one(data, method, budget, protocol, labeled, run_dir, epochs, progress, options) -> dict:
    row = {"method": method, "run": str(run_dir), "top1": None, "random_init_top1": None, "balanced_top1": None,
           "random_init_balanced_top1": None, "enough_steps": False}
    start = time.monotonic()
    try:
        pretrain(data, method, out=run_dir, budget=budget, epochs=epochs, progress=progress, **options)
        row["pretrain_seconds"] = round(time.monotonic() - start, 1)
        row["steps"] = steps_done(run_dir / "metrics.csv")
        _check_steps(row, budget)
        skip = {"skip_bad": True} if options.get("skip_bad") else {}  # the labeled data's bad files too
        shared = run_dir.parent / "features"  # the methods' common random-init floor: computed once
        scores = evaluate(run_dir, labeled, protocol, progress=progress, features=shared, **skip)
        row.update({key: scores[key] for key in ("top1", "random_init_top1", "balanced_top1",
                                                 "random_init_balanced_top1", "beats_floor", "split")})
    except SsrlError as e:
        row["error"] = str(e)
    return row


def _check_steps(row: dict, budget: str) -> None:
    """``enough_steps`` of a pretrained row, and a ``warning`` (also stated) when it is False."""
    need, steps = get_method(row["method"]).min_steps, row["steps"] or 0
    row["enough_steps"] = steps >= need
    if not row["enough_steps"]:
        spent = row["pretrain_seconds"] >= 0.9 * parse_budget(budget).total_seconds()
        row["warning"] = (f"{row['method']} got {steps:,} optimizer steps in {budget}; it needs about {need:,} on "
                          "small data to beat random init: give a longer --budget" if spent else
                          f"{row['method']} got {steps:,} optimizer steps in {row['pretrain_seconds']} s; it needs "
                          f"about {need:,} on small data to beat random init: give more --epochs (they ended "
                          "before the budget)")
        notice(row["warning"])


def plot_bench(rows: list[dict], path: Path, title: str) -> Path:
    """Bars of pretrained balanced accuracy per method (ranked), each with its random-init floor as a tick."""
    done = [r for r in rows if r["balanced_top1"] is not None]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows) + 2), 4), dpi=100)
    x = range(len(done))
    ax.bar(x, [r["balanced_top1"] for r in done], color="tab:blue", label="pretrained")
    ax.scatter(x, [r["random_init_balanced_top1"] for r in done], marker="_", s=900, color="black", zorder=3,
               label="random init")
    for i, r in zip(x, done):
        ax.annotate(f"{r['top1']:.3f}", (i, r["top1"]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [r["method"] for r in done])
    low = min([r["random_init_top1"] for r in done] + [r["top1"] for r in done], default=0.0)
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel("test top-1")
    ax.set_title(title + ("" if len(done) == len(rows) else f" ({len(rows) - len(done)} failed)"), fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return path
