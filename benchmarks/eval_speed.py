"""Wall time of ``ssrl evaluate RUN --data fashion-mnist --protocol knn`` end to end, and of its
phases (issue 21, "Evaluation speed"): start-up, loading the data set, building the two
backbones, extracting the features of each (train and test), kNN, the features' geometry, the
report. Works on a copy of the run: evaluating writes RUN/evaluations/ and rebuilds its report.

    python benchmarks/eval_speed.py RUN_DIR [--data fashion-mnist] [--rounds 2]
        [--precisions run,bf16-mixed] [--before-src /path/to/an/older/checkout/src]

``--precisions``: the phases are timed under each (``run``: the run's own); another precision
than the run's shows what its features would change (kNN top-1 beside the run's).
``--before-src``: the end-to-end command is also timed with that ``src`` first on the path (an
older ssrl), alternating with this one round by round, so both see the same machine load. Every
end-to-end round starts with no features cached anywhere, and is followed by one whose shared
folder holds the random-init floor's features (``after_floor_shared``: the evaluation of another
run from the same init, as ``SSRL_CACHE_DIR`` keeps them). The
load average (``/proc/loadavg``) is recorded before and after. Writes
benchmarks/results/eval_speed[_TAG].json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def end_to_end(run: Path, data: str, src: str | None, cache: Path) -> dict:
    """One ``ssrl evaluate RUN --data DATA --protocol knn --json`` in a fresh process, with the
    run's own feature cache emptied and ``cache`` as the shared one (``SSRL_CACHE_DIR``): wall
    seconds and the top-1s it printed."""
    shutil.rmtree(run / "features", ignore_errors=True)
    env = dict(os.environ, SSRL_CACHE_DIR=str(cache))
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "ssrl", "evaluate", str(run), "--data", data, "--protocol", "knn", "--json"]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start
    result = json.loads(out.strip().splitlines()[-1])
    return {"s": round(seconds, 2), "top1": result["top1"], "random_init_top1": result["random_init_top1"]}


def startup_s() -> float:
    """Seconds for a fresh process to import what ``ssrl evaluate`` imports."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ssrl.cli, ssrl.api"], check=True)
    return round(time.perf_counter() - start, 2)


def phases(run: Path, data: str, precision: str | None) -> dict:
    """The steps of ``ssrl.api.evaluate`` for the knn protocol, timed one by one, in this process."""
    import torch

    from ssrl import api
    from ssrl.evaluation.features import extract_features
    from ssrl.evaluation.geometry import feature_geometry
    from ssrl.evaluation.knn import adapted_k, knn_predict
    from ssrl.evaluation.metrics import classification_metrics, num_classes
    from ssrl.report import write_report
    from ssrl.runs import init_backbone, load_backbone, run_config

    out, clock = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        out[f"{name}_s"] = round(now - clock, 2)
        clock = now

    cfg = run_config(run)
    train, test, _ = api.labeled(run, data)
    lap("data")
    backbones = {"": load_backbone(run), "random_init_": init_backbone(cfg)}
    lap("backbones")
    how = api.extraction(cfg)
    if precision:
        how = type(how)(precision=precision, channels_last=how.channels_last)
    out["extraction"] = {"precision": how.precision, "channels_last": how.channels_last}
    for prefix, backbone in backbones.items():
        train_f = extract_features(backbone, train.rows, how=how)
        test_f = extract_features(backbone, test.rows, how=how)
        lap(f"{prefix}features")
        out[f"{prefix}images_per_s"] = round((len(train) + len(test)) / out[f"{prefix}features_s"])
        pred = knn_predict(train_f, train.labels, test_f, num_classes(train.labels, test.labels),
                           adapted_k(train.labels))
        out[f"{prefix}top1"] = classification_metrics(pred, test.labels)["top1"]
        lap(f"{prefix}knn")
        feature_geometry(test_f)
        lap(f"{prefix}geometry")
    write_report(run)
    lap("report")
    out["torch_threads"] = torch.get_num_threads()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--rounds", type=int, default=2, help="end-to-end runs of each version")
    p.add_argument("--precisions", default="run", help="comma-separated: run (the run's own), bf16-mixed, 32-true")
    p.add_argument("--before-src", help="an older checkout's src/ to time end to end beside this one")
    p.add_argument("--tag", default="")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / a.run.name
        shutil.copytree(a.run, run, ignore=shutil.ignore_patterns("checkpoints"))
        result = {"benchmark": "eval_speed", "run": str(a.run), "data": a.data, "load_before": load_average()}
        result["startup_s"] = startup_s()
        versions = {"before": a.before_src, "after": None} if a.before_src else {"after": None}
        runs = {name: [] for name in [*versions, "after_floor_shared"]}
        for r in range(a.rounds):  # alternating: drift in the machine's load hits both alike
            for name, src in versions.items():  # cold: nothing cached anywhere
                runs[name].append(end_to_end(run, a.data, src, Path(tmp) / f"cold-{name}-{r}"))
            # another run of the same backbone and seed evaluated after this one: the random-init
            # floor's features are in the shared folder (filled by the cold round just before)
            runs["after_floor_shared"].append(end_to_end(run, a.data, None, Path(tmp) / f"cold-after-{r}"))
        for name, rounds in runs.items():
            result[f"{name}_end_to_end"] = {"median_s": statistics.median(r["s"] for r in rounds), "rounds": rounds}
        result["phases"] = {precision: phases(run, a.data, None if precision == "run" else precision)
                            for precision in a.precisions.split(",")}
        result["load_after"] = load_average()
    save("eval_speed" + (f"_{a.tag}" if a.tag else ""), result)


if __name__ == "__main__":
    main()
