"""Benchmark B3: SimCLR trained on a folder of JPEG files read from disk. End-to-end images/s,
peak memory and start-up of ssrl's streaming path, of its in-memory path and of the peer recipe
(torchvision ImageFolder + per-sample transforms), beside the model + loss alone and the
decoder alone, on a folder made by ``benchmarks/jpeg_folder.py``.

    python benchmarks/jpeg_folder.py --n 10000 --out /tmp/b3/jpeg10k
    python benchmarks/jpeg_folder.py --n 100000 --out /tmp/b3/jpeg100k
    python benchmarks/streaming.py --folder /tmp/b3/jpeg10k                 # 64 px working size
    python benchmarks/streaming.py --folder /tmp/b3/jpeg10k --size 128
    python benchmarks/streaming.py --folder /tmp/b3/jpeg100k                # no in-memory run (> --memory-max)
    python benchmarks/streaming.py --folder /tmp/b3/jpeg100k --size 128
    python benchmarks/streaming.py --folder /tmp/b3/smoke --steps 2 --warmup 1 --batch-size 32   # plumbing only

Everything is SimCLR on ``convnet-small`` at ``--size`` px, batch ``--batch-size`` (256), seed 0,
at the precision ssrl resolves for the machine (``auto``; the peer and model-only runs use the
same, and the same memory format). Configurations, each in a process of its own (run one after
another, never two at once), so that each one's peak memory is its own:

- decode: the decoder alone, one process, no training: each file's bytes are read into memory
  first (untimed), then decoded with Pillow after ``img.draft("RGB", (S, S))`` (a JPEG is
  decoded at 1/2, 1/4 or 1/8 scale when that still covers S), shorter side resized to S
  (bilinear), centre crop: images/s per core; and the same without ``draft`` (a full decode,
  as ImageFolder's loader does); and ssrl's own streaming decoder (``ssrl.data.decode.decode``,
  where the installed ssrl has it) on the same bytes. ``--decode-files`` files, drawn with a
  fixed seed. A GPU that trains at R images/s needs R / (this figure) cores of decoding.
- model-loss: no files: ``2 × batch`` images of the folder decoded once to S px uint8 and held
  in memory; per step a random batch of them goes through ssrl's views and SimCLR's loss
  (views+loss img/s), and, the views made once beforehand, the loss alone (loss-only img/s,
  as ``fashion_mnist.model_and_loss_step_s`` measures B1's model + loss).
- peer-wW: torchvision ``datasets.ImageFolder`` with per-sample transforms RandomResizedCrop(S),
  RandomHorizontalFlip, ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8, RandomGrayscale(0.2),
  ToTensor, applied twice per image (two views), in a ``DataLoader(batch_size, shuffle=True,
  num_workers=W, drop_last=True)``, feeding the same method, loss and optimizer step as
  model-loss; for each W of ``--workers`` (0, 1, 2).
- memory: ``ssrl.api.pretrain(folder, stream=False)``: the whole folder decoded to S px into
  memory before training (its start-up is that decode); only when the folder has at most
  ``--memory-max`` files (default 20,000: the 10,000 folder, not the 100,000 one).
- prepare: ``ssrl.prepare(folder, out=SHARDS, workers=--prepare-workers)``, LitData shards
  of the folder in ``WORK/shards/FOLDER``; its wall time is "the time prepare takes".
- stream-shards-wW: ``ssrl.api.pretrain(SHARDS, stream=True, workers=W)`` for each W of ``--workers``;
  stream-folder-wW: the same on the raw folder, at the largest W.

The ssrl runs go through ``ssrl.api.pretrain(data, "simclr", out=..., backbone="convnet-small",
image_size=S, batch_size=B, max_steps=warmup + steps, epochs=E, progress=False)``, E the fewest
epochs that hold those steps; ssrl's post-training work (saving h_θ, the report with its
embedding map, which would decode the folder again) is skipped unless ``--finish``, so that
the peak memory is that of training.

Throughput: ``time.perf_counter()`` at the end of every training step (a Lightning callback's
``on_train_batch_end`` for ssrl; after ``optimizer.step()`` elsewhere); images/s = batch ×
steps / (time from the end of the last warm-up step to the end of the last step), over
``--steps`` steps after ``--warmup`` steps. first_step_s: from the start of the work (imports
done) to the end of the first step: start-up, plus for the in-memory path the decode of the
whole folder. Memory: ``peak_rss_mb``, the worker process's own peak resident set (its VmHWM,
read as it ends; not ``getrusage``'s ``ru_maxrss``, which a process started by fork + exec
inherits from its parent, here the parent's own hundreds of MB); ``children_peak_rss_mb``, the
largest VmHWM of any process it started (loader workers); ``peak_pss_mb``, the largest sum of
proportional set sizes (``/proc/PID/smaps_rollup``, so pages shared by forked loader workers
count once) over the worker and all its descendants: the configuration's whole footprint. Both
sampled every ``--sample-s`` s; ``train_hwm_mb``, the worker process's own VmHWM when training ended.

Files are read through the OS page cache as it is: a folder written just before, or read by an
earlier configuration, is likely cached (100,000 files are about 4 GB). Results:
``benchmarks/results/streaming_{S}px_{N}.json`` (N: files in the folder), with the machine, the
load average at the start and end, and the folder's ``jpeg_folder.py`` record; worker logs in
``WORK/logs``. Figures taken while anything else runs on the machine are meaningless.
"""

import argparse
import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402
from peer_simclr import load_average  # noqa: E402

METHOD, BACKBONE, SEED = "simclr", "convnet-small", 0
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png"}
RESULT = "RESULT "  # a worker's last stdout line: RESULT {json}


# ---- shared helpers --------------------------------------------------------------------------

def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def decode(data, size: int, draft: bool = True) -> np.ndarray:
    """A JPEG (a path or a file object) as (size, size, 3) uint8: decoded (at a reduced scale
    with ``draft``), shorter side resized to ``size`` (bilinear), centre crop."""
    from PIL import Image

    with Image.open(data) as img:
        if draft:
            img.draft("RGB", (size, size))
        img = img.convert("RGB")
        w, h = img.size
        scale = size / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        return np.asarray(img.crop((left, top, left + size, top + size)))


def throughput(ends: list[float], warmup: int, batch: int) -> dict:
    """images/s over the steps after ``warmup`` from step end times; the median step too."""
    timed = len(ends) - warmup
    out = {"steps_done": len(ends), "timed_steps": max(0, timed)}
    if warmup < 1 or timed < 1:
        return {**out, "img_s": None, "step_s_median": None}
    gaps = [b - a for a, b in zip(ends[warmup - 1:], ends[warmup:])]
    return {**out, "img_s": round(batch * timed / (ends[-1] - ends[warmup - 1]), 1),
            "step_s_median": round(statistics.median(gaps), 4)}


def status_mb(pid, key: str) -> float | None:
    """A figure of /proc/PID/status (VmHWM, VmRSS), MB; None where the process has gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            line = next((ln for ln in f if ln.startswith(key + ":")), None)
    except OSError:
        return None
    return int(line.split()[1]) / 1024 if line else None


def emit(result: dict) -> None:
    """The worker's result, with its own peak resident set (VmHWM: this process since its exec)."""
    print(RESULT + json.dumps({**result, "peak_rss_mb": round(status_mb("self", "VmHWM"), 1)}), flush=True)


# ---- workers: one configuration each, in a process of its own --------------------------------

def decode_worker(a) -> dict:
    files = image_files(a.folder)
    chosen = random.Random(SEED).sample(files, min(a.decode_files, len(files)))
    t = time.perf_counter()
    blobs = [f.read_bytes() for f in chosen]
    read_s = time.perf_counter() - t
    out = {"files": len(blobs), "mean_bytes": round(sum(map(len, blobs)) / len(blobs)), "read_s": round(read_s, 2)}
    decoders = {"draft": lambda b: decode(io.BytesIO(b), a.size, True),
                "full": lambda b: decode(io.BytesIO(b), a.size, False)}
    try:
        from ssrl.data.decode import decode as ssrl_decode  # the streaming path's own decoder

        decoders["ssrl"] = lambda b: ssrl_decode(b, "RGB", a.size)
    except ImportError as e:
        out["ssrl_img_s_per_core"] = f"not available ({e})"
    for key, fn in decoders.items():
        for b in blobs[:10]:  # warm-up: first calls load the codec
            fn(b)
        t = time.perf_counter()
        for b in blobs:
            fn(b)
        seconds = time.perf_counter() - t
        out[f"{key}_img_s_per_core"] = round(len(blobs) / seconds, 1)
        out[f"{key}_mb_s_per_core"] = round(sum(map(len, blobs)) / seconds / 1e6, 1)
    out["img_s"] = out["draft_img_s_per_core"]
    return out


def stand_in(a):
    """(the resolved run of a stand-in .npy of real images at S px, the engine module built as
    ``pretrain`` builds it, the device): the same method, views, precision and memory format as
    an ssrl run on the folder, without decoding the folder."""
    import torch

    from ssrl.api import build  # build -> ssrl.api.build_method, then the engine (channels_last)
    from ssrl.config import RunConfig
    from ssrl.resolve import resolve

    run = resolve(RunConfig(data=str(standin_path(a)), method=METHOD, backbone=BACKBONE, image_size=a.size,
                            batch_size=a.batch_size, epochs=1, seed=SEED, max_steps=a.warmup + a.steps))
    scratch = a.work / "scratch" / f"{a.size}px"
    module, _ = build(run, scratch, progress=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module.method.to(device).train()
    return run, module, device


def autocast(run, device):
    """The autocast of the run's precision, as Lightning applies it around a training step."""
    import torch

    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(run.config.precision)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def train_step(run, method, device):
    """step(loss_fn, *args): one optimizer step on the loss ``loss_fn(*args)`` computed under the
    run's autocast, with the run's optimizer (its lr; no schedule, no weight-decay groups: their
    cost is nil)."""
    import torch

    o = run.optimizer
    opt = (torch.optim.AdamW(method.parameters(), lr=o.lr) if o.name == "adamw"
           else torch.optim.SGD(method.parameters(), lr=o.lr, momentum=o.momentum))

    def step(loss_fn, *args):
        with autocast(run, device):
            loss = loss_fn(*args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return loss

    return step


def model_loss_worker(a) -> dict:
    import torch

    start = time.perf_counter()
    run, module, device = stand_in(a)
    method, modality = module.method, run.modality
    step = train_step(run, method, device)
    rows = run.source.rows.to(device)  # (2B, C, S, S) uint8

    def views_and_loss(batch, index):
        return method.loss(*method.pseudolabels(modality.to_input(batch), index))[0]

    def loss_only(inputs, z):
        return method.loss(inputs, z)[0]

    g = torch.Generator().manual_seed(SEED)
    ends, first = [], None
    for _ in range(a.warmup + a.steps):  # views + loss: a fresh random batch of the held images each step
        index = torch.randperm(len(rows), generator=g)[:a.batch_size]
        step(views_and_loss, rows[index.to(device)], index)
        ends.append(time.perf_counter())
        first = first or ends[-1] - start
    with_views = throughput(ends, a.warmup, a.batch_size)
    index = torch.arange(a.batch_size)
    with torch.no_grad(), autocast(run, device):
        inputs, z = method.pseudolabels(modality.to_input(rows[index.to(device)]), index)  # made once
    ends = []
    for _ in range(a.warmup + a.steps):
        step(loss_only, inputs, z)
        ends.append(time.perf_counter())
    alone = throughput(ends, a.warmup, a.batch_size)
    return {**with_views, "first_step_s": round(first, 2), "loss_only_img_s": alone["img_s"],
            "loss_only_step_s_median": alone["step_s_median"], "precision": run.config.precision,
            "channels_last": run.config.channels_last, "device": device.type, "views": run.config.views}


class TwoViews:
    """Two independent draws of a per-sample transform: the peer recipe's SimCLR pair."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img):
        return self.transform(img), self.transform(img)


def peer_worker(a, workers: int) -> dict:
    import torch
    from torchvision import datasets
    from torchvision import transforms as T

    start = time.perf_counter()
    run, module, device = stand_in(a)
    method = module.method
    step = train_step(run, method, device)

    def loss_only(inputs, z):
        return method.loss(inputs, z)[0]

    transform = T.Compose([T.RandomResizedCrop(a.size), T.RandomHorizontalFlip(),
                           T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(0.2),
                           T.ToTensor()])
    data = datasets.ImageFolder(str(a.folder), transform=TwoViews(transform))
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch_size, shuffle=True, num_workers=workers,
                                         drop_last=True, pin_memory=device.type == "cuda",
                                         generator=torch.Generator().manual_seed(SEED))
    total, ends, first = a.warmup + a.steps, [], None
    while len(ends) < total:
        for (v1, v2), _ in loader:  # two (B, 3, S, S) float views in [0, 1]
            inputs = torch.cat([v1, v2]).to(device, non_blocking=True)
            z = torch.arange(len(v1), device=device).repeat(2)  # as ssrl's two_views
            step(loss_only, inputs, z)
            ends.append(time.perf_counter())
            first = first or ends[-1] - start
            if len(ends) == total:
                break
    return {**throughput(ends, a.warmup, a.batch_size), "first_step_s": round(first, 2), "num_workers": workers,
            "files": len(data), "precision": run.config.precision, "device": device.type}


def pretrain_worker(a, name: str) -> dict:
    import yaml
    from lightning.pytorch.callbacks import Callback

    from ssrl import api

    class StepEnds(Callback):
        def __init__(self):
            self.ends, self.hwm = [], None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.ends.append(time.perf_counter())

        def on_train_end(self, trainer, pl_module):
            self.hwm = round(status_mb("self", "VmHWM"), 1)

    if not a.finish and hasattr(api, "finish"):
        api.finish = lambda *args, **kwargs: None  # no saved h_θ, no report: training's memory and time alone
    kind, _, w = name.rpartition("-w") if "-w" in name else (name, "", "")
    options = {"image_size": a.size, "batch_size": a.batch_size, "backbone": BACKBONE, "seed": SEED,
               "max_steps": a.warmup + a.steps, "progress": False}
    n = len(image_files(a.folder))
    options["epochs"] = max(1, math.ceil((a.warmup + a.steps) / max(1, n // a.batch_size)))
    if kind == "memory":
        data = a.folder
        options["stream"] = False
    else:
        data = shards_path(a) if kind == "stream-shards" else a.folder
        options.update(stream=True, workers=int(w))
    run_dir = a.work / "runs" / f"{a.size}px_{a.folder.name}_{name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    timer = StepEnds()
    start = time.perf_counter()
    api.pretrain(str(data), METHOD, out=run_dir, callbacks=[timer], **options)
    wall = time.perf_counter() - start
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    return {**throughput(timer.ends, a.warmup, a.batch_size),
            "first_step_s": round(timer.ends[0] - start, 2) if timer.ends else None, "wall_s": round(wall, 1),
            "train_hwm_mb": timer.hwm, "data": str(data),
            "options": {k: v for k, v in options.items() if k != "progress"}, "precision": cfg.get("precision"),
            "channels_last": cfg.get("channels_last"), "stream": cfg.get("stream"), "workers": cfg.get("workers")}


def prepare_worker(a) -> dict:
    import ssrl

    shards = shards_path(a)
    shutil.rmtree(shards, ignore_errors=True)
    start = time.perf_counter()
    ssrl.prepare(str(a.folder), out=shards, workers=a.prepare_workers)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in shards.rglob("*") if f.is_file())
    return {"prepare_s": round(seconds, 1), "workers": a.prepare_workers, "shards": str(shards),
            "shards_bytes": size}


def worker(a) -> None:
    name = a.worker
    if name == "decode":  # torch is not imported here (ssrl's decoder may import it)
        emit(decode_worker(a))
        return
    import torch

    torch.set_num_threads(a.threads)
    if name == "model-loss":
        result = model_loss_worker(a)
    elif name.startswith("peer-w"):
        result = peer_worker(a, int(name.removeprefix("peer-w")))
    elif name == "prepare":
        result = prepare_worker(a)
    else:
        result = pretrain_worker(a, name)
    emit(result)


# ---- the parent: plan, run each configuration, measure its memory, tabulate ------------------

def standin_path(a) -> Path:
    return a.work / f"standin_{a.folder.name}_{a.size}px_{2 * a.batch_size}.npy"


def shards_path(a) -> Path:
    return a.work / "shards" / a.folder.name


def write_stand_in(a, files: list[Path]) -> None:
    """2 × batch images of the folder at S px, (N, S, S, 3) uint8: model-loss's and the stand-in data."""
    path = standin_path(a)
    if not path.exists():
        chosen = random.Random(SEED).sample(files, min(len(files), 2 * a.batch_size))
        np.save(path, np.stack([decode(f, a.size) for f in chosen]))


def plan(a, n: int) -> list[tuple[str, str | None]]:
    """(configuration, None to run it or the reason it is not run), in running order."""
    top = max(a.workers)
    names = ["decode", "model-loss", *(f"peer-w{w}" for w in a.workers), "memory", "prepare",
             *(f"stream-shards-w{w}" for w in a.workers), f"stream-folder-w{top}"]
    if a.configs:
        unknown = set(a.configs) - set(names)
        if unknown:
            raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; choose from: {', '.join(names)}")
        names = [c for c in names if c in a.configs]
    return [(name, f"skipped: {n:,} files > --memory-max {a.memory_max:,}" if name == "memory" and n > a.memory_max
             else None) for name in names]


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_pss_mb(root: int) -> float:
    """Proportional set size summed over ``root`` and its descendants (VmRSS where PSS can't be read)."""
    total_kb = 0
    for pid in descendants(root):
        for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                with open(path) as f:
                    line = next((ln for ln in f if ln.startswith(key)), None)
            except OSError:
                continue
            if line:
                total_kb += int(line.split()[1])
                break
    return total_kb / 1024


def children_hwm_mb(root: int) -> list[float]:
    """VmHWM of each process ``root`` started (its descendants), MB."""
    return [v for v in (status_mb(pid, "VmHWM") for pid in descendants(root)[1:]) if v is not None]


def spawn(a, name: str) -> dict:
    """Run one configuration as a process of its own; its result with its memory figures."""
    logs = a.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{a.size}px_{a.folder.name}_{name}.log"
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads)}
    start, peak_pss, children_hwm = time.perf_counter(), 0.0, 0.0
    with open(log, "w") as err, open(log.with_suffix(".out"), "w+") as out:
        proc = subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--worker", name],
                                stdout=out, stderr=err, env=env)
        while proc.poll() is None:
            peak_pss = max(peak_pss, tree_pss_mb(proc.pid))
            children_hwm = max([children_hwm, *children_hwm_mb(proc.pid)])
            time.sleep(a.sample_s)
        out.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith(RESULT)]
    record = {"process_s": round(time.perf_counter() - start, 1), "peak_pss_mb": round(peak_pss, 1),
              "children_peak_rss_mb": round(children_hwm, 1) if children_hwm else None}
    if proc.returncode or not lines:
        tail = log.read_text().strip().splitlines()[-12:]
        return {"status": f"failed (exit {proc.returncode})", "error": "\n".join(tail), "log": str(log), **record}
    return {"status": "ok", **json.loads(lines[-1][len(RESULT):]), **record}


def fmt(v, spec: str = ",.1f") -> str:
    return "-" if v is None else v if isinstance(v, str) else format(v, spec)


def note(name: str, r: dict) -> str:
    if name == "decode":
        return (f"per core; full decode {fmt(r.get('full_img_s_per_core'))}, "
                f"ssrl's decoder {fmt(r.get('ssrl_img_s_per_core'))} img/s")
    if name == "model-loss":
        return f"views+loss; loss only {fmt(r.get('loss_only_img_s'))} img/s; {r.get('precision')}"
    if name == "prepare":
        return f"prepare {fmt(r.get('prepare_s'))} s, shards {fmt(r.get('shards_bytes', 0) / 1e6)} MB"
    return r.get("precision") or ""


def print_table(results: dict) -> None:
    print(f"\n{'configuration':<18} {'img/s':>8} {'step s':>7} {'1st step s':>10} {'RSS MB':>8} "
          f"{'workers RSS':>11} {'PSS MB':>8}  notes")
    for name, r in results.items():
        if r["status"] != "ok":
            print(f"{name:<18} {'':>8} {'':>7} {'':>10} {'':>8} {'':>11} {'':>8}  {r['status']}")
            continue
        print(f"{name:<18} {fmt(r.get('img_s')):>8} {fmt(r.get('step_s_median'), '.3f'):>7} "
              f"{fmt(r.get('first_step_s')):>10} {fmt(r.get('peak_rss_mb')):>8} "
              f"{fmt(r.get('children_peak_rss_mb')):>11} {fmt(r.get('peak_pss_mb')):>8}  {note(name, r)}")


def parent(a) -> None:
    files = image_files(a.folder)
    if len(files) < a.batch_size:
        raise SystemExit(f"{a.folder}: {len(files)} image files, fewer than one batch of {a.batch_size}")
    a.work.mkdir(parents=True, exist_ok=True)
    write_stand_in(a, files)
    sidecar = a.folder.parent / f"{a.folder.name}.json"
    folder = json.loads(sidecar.read_text()) if sidecar.is_file() else {
        "n": len(files), "total_bytes": sum(f.stat().st_size for f in files)}
    load_start = os.getloadavg()
    results = {}
    for name, why in plan(a, len(files)):
        if why is None and name.startswith("stream-shards") and not shards_path(a).is_dir():
            prepared = results.get("prepare", {}).get("status", "not run")
            why = f"skipped: no shards in {shards_path(a)} (prepare: {prepared})"
        results[name] = {"status": why} if why else spawn(a, name)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    feed = {}
    decoder, model = results.get("decode", {}), results.get("model-loss", {})
    if decoder.get("status") == "ok" and model.get("status") == "ok":  # decoding cores one trainer would need
        feed = {f"cores_to_decode_for_{k}": round(model[f] / decoder["draft_img_s_per_core"], 2)
                for k, f in (("views_loss", "img_s"), ("loss_only", "loss_only_img_s")) if model.get(f)}
    result = {"benchmark": "B3: streaming images from disk", "method": METHOD, "backbone": BACKBONE,
              "folder": str(a.folder), "files": len(files), "folder_record": folder, "size": a.size,
              "batch_size": a.batch_size, "warmup": a.warmup, "steps": a.steps, "workers": a.workers,
              "threads": a.threads, "finish": a.finish, "configs": results, "decode_arithmetic": feed,
              "load_average_start": load_average(load_start), "load_average_end": load_average(os.getloadavg())}
    save(f"streaming_{a.size}px_{len(files)}", result)
    print_table(results)


def int_list(text: str) -> list[int]:
    values = sorted({int(v) for v in text.split(",") if v.strip()})
    if not values or values[0] < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: need comma-separated counts >= 0")
    return values


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", type=Path, required=True, help="a folder written by benchmarks/jpeg_folder.py")
    p.add_argument("--size", type=int, default=64, help="working size S, px (default 64)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20, help="timed steps after the warm-up (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first, at least 1 (default 5)")
    p.add_argument("--workers", type=int_list, default=[0, 1, 2], help="loader workers to try (default 0,1,2)")
    p.add_argument("--configs", type=lambda s: [c.strip() for c in s.split(",") if c.strip()], default=None,
                   help="run only these configurations (comma-separated names, as in the table)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch threads of every process (default: all cores)")
    p.add_argument("--memory-max", type=int, default=20000,
                   help="most files the in-memory path is run on (default 20,000)")
    p.add_argument("--prepare-workers", type=int, default=2, help="workers of ssrl.prepare (default 2)")
    p.add_argument("--decode-files", type=int, default=2000,
                   help="files the decode measurement decodes (default 2,000)")
    p.add_argument("--work", type=Path, default=Path("/tmp/b3/work"), help="shards, runs, logs (default /tmp/b3/work)")
    p.add_argument("--sample-s", type=float, default=0.5, help="memory sampling interval, s (default 0.5)")
    p.add_argument("--finish", action="store_true", help="let ssrl runs save h_θ and write their report")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    a.folder = a.folder.resolve()
    if a.warmup < 1 or a.steps < 1:
        p.error("--warmup and --steps must be at least 1")
    if a.worker:
        worker(a)
    else:
        parent(a)


if __name__ == "__main__":
    main()
