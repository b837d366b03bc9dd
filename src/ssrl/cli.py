"""The ``ssrl`` command: parses arguments and calls the public API (``ssrl.api``).

Errors print one line naming the input at fault and exit with status 1; ``--debug`` shows
the traceback instead.
"""

import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional

import typer

from ssrl.cli_output import FlagsCommand, FlagsGroup, print_evaluation, table
from ssrl.config import RunConfig
from ssrl.errors import SsrlError

app = typer.Typer(cls=FlagsGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Self-supervised representation learning: pretrain, evaluate, embed.")
_state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")):
    _state["debug"] = debug
    if debug:  # Lightning's banners and notes too (ssrl.notices.quiet_lightning)
        os.environ["SSRL_DEBUG"] = "1"


def _params(pairs: list[str], flag: str) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SsrlError(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


@app.command(cls=FlagsCommand)
def methods(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List the pretext methods: name, family, modality, paper."""
    from ssrl.catalog import built_in_methods  # read from the method files: no torch to load

    rows = built_in_methods()
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(["name", "family", "modality", "paper"], [list(r.values()) for r in rows]))


_RUN = {f.name: f.default for f in fields(RunConfig)}  # the defaults live in RunConfig, not here


def _default(name: str) -> str:
    return "(default: chosen from the data)" if _RUN[name] is None else f"(default {_RUN[name]})"


@app.command(cls=FlagsCommand)
def pretrain(
    data: Optional[str] = typer.Option(None, "--data", help="Unlabeled source: path or data-set name."),
    method: Optional[str] = typer.Option(None, "--method", help="Pretext method (see `ssrl methods`; default "
                                         "simclr for images, word2vec for text)."),
    backbone: Optional[str] = typer.Option(
        None, "--backbone", help="convnet-small, resnet18/34/50, vit-mini, text-encoder-mini, ... "
        "(default: the method's, else its modality's)."),
    init: str = typer.Option("random", "--init", help="The backbone's start: random, or pretrained (a timm:/torchvision: "
                             "backbone's published weights, downloaded once; evaluations then compare with them)."),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", help="Passes over the data " + _default("epochs") + ": enough for the method's "
        "min_steps on small data, at least 10; with --budget, as many as it allows; spanning --max-steps."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help="Source rows per step, all processes " + _default("batch_size")
        + ": the largest power of two ≤ rows / 8, from 16 to 256."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/METHOD-DATA-TIME)."),
    devices: Optional[int] = typer.Option(None, "--devices", help=_default("devices")),
    nodes: Optional[int] = typer.Option(None, "--nodes", help=_default("nodes")),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="auto, cpu or gpu " + _default("accelerator")),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto, 32-true, bf16-mixed or 16-mixed "
                                            + _default("precision") + ": bf16-mixed where the device has "
                                            "native bfloat16 and the method was checked under it, else 32-true."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the backbone and head "
                                           "(default: for runs of 1,000+ steps of the methods checked compiled)."),
    seed: Optional[int] = typer.Option(None, "--seed", help=_default("seed")),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Default: the method's, scaled by batch/256."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd or adamw (default: the method's)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Default: the data's own size."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N rows."),
    skip_bad: Optional[bool] = typer.Option(None, "--skip-bad", help="Skip unreadable images (and videos), counting them."),
    clip_frames: Optional[int] = typer.Option(None, "--clip-frames", help="Videos: frames per clip, cut from each "
                                              "video's start (default: 16 for video folders; arrays as stored)."),
    frame_stride: Optional[int] = typer.Option(None, "--frame-stride", help="Videos: take every Nth frame (default 1)."),
    monitor: Optional[str] = typer.Option(None, "--monitor", help="Labeled data for an online kNN monitor."),
    param: list[str] = typer.Option([], "--param", help="Method hyperparameter KEY=VALUE (repeatable)."),
    view: list[str] = typer.Option([], "--view", help="View option KEY=VALUE (repeatable)."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Wall-clock limit of training (the lr and momentum schedules end with it): 90s, 10m, 1h30m."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N steps (the lr schedule ends there)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Also write last.ckpt every N steps (default: epoch ends only)."),
    logger: list[str] = typer.Option([], "--logger", help="tensorboard, wandb or mlflow, beside metrics.csv (repeatable)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data loader processes decoding streamed images (default: all cores but one; 0 for data in memory)."),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Image folders and shards: decode while training, or all into memory first (default: stream when they would exceed --memory-budget)."),
    memory_budget: Optional[str] = typer.Option(None, "--memory-budget", help="Decoded images held in memory at most, such as 8GB (default: a quarter of RAM)."),
    decode_on_device: Optional[bool] = typer.Option(None, "--decode-on-device", help="Streamed JPEGs: decode on the training device (nvJPEG on a GPU); workers only read files."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Text data: the column of the documents."),
    documents: Optional[str] = typer.Option(None, "--documents", help="Plain text: one document per line or "
                                            "paragraph " + _default("documents")),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", help="Text: bpe, wordpiece or word, trained on DATA (default: the method's, else bpe)."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="Text: tokenizer entries " + _default("vocab_size")),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Text: tokens per document, [CLS] and [SEP] "
                                             "included " + _default("max_tokens")),
):
    """Pretrain a backbone on unlabeled data (images, or text: .txt/.tsv/.csv/.jsonl) with a pretext method."""
    from ssrl.api import pretrain as run_pretrain

    where = dict(accelerator=accelerator, devices=devices, nodes=nodes, workers=workers,
                 checkpoint_every=checkpoint_every, loggers=logger or None)  # what --resume may change
    options = dict(
        backbone=backbone, init=None if init == "random" else init, epochs=epochs, batch_size=batch_size,
        precision=precision, compile=compile, seed=seed, lr=lr, optimizer=optimizer, image_size=image_size, limit=limit,
        clip_frames=clip_frames, frame_stride=frame_stride,
        skip_bad=skip_bad, monitor=monitor, budget=budget,
        params=_params(param, "--param") or None, views=_params(view, "--view") or None, stream=stream,
        memory_budget=memory_budget, decode_on_device=decode_on_device, max_steps=max_steps, text_column=text_column,
        documents=documents, tokenizer=tokenizer, vocab_size=vocab_size, max_tokens=max_tokens, **where)
    if resume:  # anything but `where` is refused by the API, --method here
        if method is not None:
            raise SsrlError("--resume continues the saved configuration; it cannot change --method")
        run = run_pretrain(data, out=out, resume=True, **options)
    else:
        run = run_pretrain(data, method, out=out, **options)
    print(f"run directory: {run}")


def _numbers(text: Optional[str], kind: type, flag: str) -> Optional[list]:
    if text is None:
        return None
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise SsrlError(f"{flag} {text!r}: expected comma-separated numbers") from e


@app.command(cls=FlagsCommand)
def evaluate(
    run: Path = typer.Argument(..., help="Run directory."),
    data: str = typer.Option(..., "--data", help="Labeled data (D_t)."),
    protocol: str = typer.Option("knn", "--protocol", help="knn, linear, finetune, fewshot, or propagate (videos "
                                  "with masks in DAVIS's layout: J and F of label propagation)."),
    test_data: Optional[str] = typer.Option(None, "--test-data", help="Labeled test set, if DATA has no split."),
    label_fraction: Optional[float] = typer.Option(None, "--label-fraction", help="Use this fraction of the labels."),
    label_fractions: Optional[str] = typer.Option(
        None, "--label-fractions", help="fewshot: several fractions (0.01,0.1): a label-efficiency curve."),
    per_class: Optional[str] = typer.Option(None, "--per-class", help="fewshot: N labels per class (or N1,N2,...)."),
    draws: int = typer.Option(3, "--draws", help="fewshot: seeded class-balanced draws per setting."),
    classifier: str = typer.Option("linear", "--classifier", help="fewshot: linear (probe, frozen) or finetune."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Fine-tuning / from-scratch epochs (50)."),
    lr_backbone: Optional[float] = typer.Option(None, "--lr-backbone", help="Fine-tuning lr of h_θ (1e-3)."),
    lr_head: Optional[float] = typer.Option(None, "--lr-head", help="lr of g_φ and of the from-scratch model (1e-3)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Fine-tuning / from-scratch batch (64)."),
    augment: bool = typer.Option(True, "--augment/--no-augment",
                                 help="Fine-tuning / from scratch: random crops (50-100%) and flips."),
    k: Optional[int] = typer.Option(None, "--k", help="kNN neighbours (default: the smallest class's size, "
                                    "between 10 and 200)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the probe and the few-shot draws."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="Text data: the column of the classes; videos: which "
                                                "labels (moving-digits: digit or direction; an .npz: their key)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Text data: default, the run's."),
    pool: Optional[str] = typer.Option(None, "--pool", help="Text: mean of the token features (default), or first "
                                       "(the [CLS] token); videos: mean of the frames' features (default), "
                                       "trend (their mean and trend over time: sees motion), or order (all "
                                       "frames in time order: sees when; knn and linear only)."),
    skip_bad: Optional[bool] = typer.Option(None, "--skip-bad", help="Images: leave out unreadable files, counting them."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Images: read at this side (default: the run's); "
                                             "propagate: the frames' shorter side (96)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N rows of each split."),
    layer: Optional[int] = typer.Option(None, "--layer", help="knn, linear on images: probe h_θ's feature map N "
                                        "(1 = the finest) pooled to about 9,000 dimensions, both backbones alike."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Evaluate a run's backbone on labeled data, beside its random-init floor (and, for few-shot,
    a supervised model trained from scratch); the result is saved in RUN/evaluations/."""
    from ssrl.transfer import evaluate as run_evaluate  # not via ssrl.api: no Lightning to import
    from ssrl.evaluation.fewshot import TrainBudget

    given = dict(epochs=epochs, lr_backbone=lr_backbone, lr_head=lr_head, batch_size=batch_size)
    budget = TrainBudget(**{key: value for key, value in given.items() if value is not None}, augment=augment)
    fractions, shots = _numbers(label_fractions, float, "--label-fractions"), _numbers(per_class, int, "--per-class")
    result = run_evaluate(run, data, protocol, test_data=test_data, label_fraction=label_fraction,
                          label_fractions=fractions, per_class=shots, draws=draws, classifier=classifier,
                          budget=budget, k=k, seed=seed, progress=not as_json, label_column=label_column,
                          text_column=text_column, pool=pool, skip_bad=skip_bad, image_size=image_size, limit=limit,
                          layer=layer)
    if as_json:
        print(json.dumps(result))
        return
    print_evaluation(result, protocol, draws)


@app.command(cls=FlagsCommand)
def bench(
    data: str = typer.Option(..., "--data", help="Source to pretrain on (path or data-set name)."),
    methods: str = typer.Option(..., "--methods", help="Comma-separated pretext methods (see `ssrl methods`)."),
    budget: str = typer.Option(..., "--budget", help="Wall-clock pretraining budget of each method: 90s, 10m, 1h."),
    protocol: str = typer.Option("knn", "--protocol", help="knn or linear."),
    labeled: Optional[str] = typer.Option(None, "--labeled", help="Labeled data to evaluate on (default: DATA)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Bench directory (default runs/bench-DATA-TIME)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Bound each run by epochs too (default: the budget alone ends it)."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Every run's backbone (default: each method's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="(default: chosen from the data, "
                                             "as for pretrain)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Every run's seed (default 0)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Pretrain on the first N images only."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Working image size (default: the data's)."),
    skip_bad: Optional[bool] = typer.Option(None, "--skip-bad", help="Skip unreadable images (pretraining and "
                                            "evaluation), counting them."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Pretrain each method with the same budget, evaluate each the same way, rank them."""
    from ssrl.bench import bench as run_bench

    given = dict(backbone=backbone, batch_size=batch_size, seed=seed, limit=limit, image_size=image_size,
                 skip_bad=skip_bad)
    result = run_bench(data, [m.strip() for m in methods.split(",") if m.strip()], budget, protocol=protocol,
                       labeled=labeled, out=out, epochs=epochs, progress=not as_json,
                       **{key: value for key, value in given.items() if value is not None})
    failed = [r for r in result["rows"] if "error" in r]
    if as_json:
        print(json.dumps(result))
    else:
        print(f"\n{result['budget']} of pretraining each on {data}; {protocol} on {result['labeled']}, "
              "ranked by balanced accuracy")
        print(table(["rank", "method", "balanced", "(random init)", "top-1", "(random init)", "steps", "pretrain s"],
                    [[r["rank"], r["method"], *((r["balanced_top1"], r["random_init_balanced_top1"], r["top1"],
                                                 r["random_init_top1"], r["steps"], r["pretrain_seconds"])
                                                if "error" not in r else ("failed: " + r["error"], "", "", "", "", ""))]
                     for r in result["rows"]]))
        for r in result["rows"]:
            if "warning" in r:
                print(f"warning: {r['warning']}")
        print(f"plot: {result['plot']}")
    if failed:
        raise SsrlError(f"{len(failed)} of {len(result['rows'])} methods failed: "
                        + "; ".join(f"{r['method']}: {r['error']}" for r in failed))


@app.command(cls=FlagsCommand)
def embed(
    run: Path = typer.Argument(..., help="Run directory."),
    data: Optional[str] = typer.Option(None, "--data", help="Images (or text) to embed."),
    out: Path = typer.Option(..., "--out", help="Output .npy file (N, dim); text runs: .txt or .vec writes "
                             "the word vectors in word2vec's text format (no --data needed)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Text data: default, the run's."),
    pool: Optional[str] = typer.Option(None, "--pool", help="Text: mean (default) or first; videos: mean "
                                       "(default), trend or order."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Images: read at this side (default: the run's)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Embed only the first N rows."),
    per_clip: bool = typer.Option(False, "--per-clip", help="Videos: one row per clip (every clip of every "
                                  "video, as the run cuts them), listed in OUT.clips.csv."),
):
    """Write the backbone's features of every image (or document, or video) to a .npy file."""
    from ssrl.transfer import embed as run_embed  # not via ssrl.api: no Lightning to import

    features = run_embed(run, data, out, limit=limit, per_clip=per_clip, text_column=text_column, pool=pool,
                         image_size=image_size)
    print(f"wrote {out}: {features.shape[0]} × {features.shape[1]} features")


@app.command(cls=FlagsCommand)
def similar(
    run: Path = typer.Argument(..., help="Text run directory (word2vec, or any text run's token vectors)."),
    word: str = typer.Argument(..., help="The word (a tokenizer entry) to find neighbours of."),
    k: int = typer.Option(10, "--k", help="Neighbours."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Nearest-neighbour words by cosine similarity of the run's word vectors."""
    from ssrl.ranges import check_count
    from ssrl.word_vectors import nearest_words, word_vectors

    check_count(k, "--k")
    rows = nearest_words(*word_vectors(run), word, k)
    print(json.dumps(rows) if as_json else table(["word", "cosine"], [list(r) for r in rows]))


@app.command(cls=FlagsCommand)
def prepare(
    folder: Path = typer.Argument(..., help="Image folder (class subfolders give labels, train/ and test/ the split)."),
    out: Path = typer.Option(..., "--out", help="Where to write the shards."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Writer processes (default: the cores, at most 8)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out files whose header cannot be read, counting them."),
):
    """Write an image folder's files, unchanged, into LitData shards that pretrain, evaluate and embed read."""
    from ssrl.data.shards import prepare as run_prepare

    print(f"shards: {run_prepare(folder, out, workers=workers, skip_bad=skip_bad)}")


@app.command(cls=FlagsCommand)
def export(
    run: Path = typer.Argument(..., help="Run directory."),
    fmt: str = typer.Option(..., "--format", help="torchvision, safetensors or onnx."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default RUN/export/backbone.EXT)."),
):
    """Export the run's backbone for use without ssrl (a PATH.json beside it says how to load it)."""
    from ssrl.export import export as run_export

    print(f"wrote {run_export(run, fmt, out)}")


@app.command(cls=FlagsCommand)
def report(run: Path = typer.Argument(..., help="Run directory.")):
    """Rebuild RUN/report.html: configuration, curves, embedding map, pictures, evaluations."""
    from ssrl.report import write_report

    print(f"wrote {write_report(run)}")


@app.command(cls=FlagsCommand)
def demo(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Run directory."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Pretraining epochs (30)."),
    method: Optional[str] = typer.Option(None, "--method", help="Pretext method (simclr)."),
):
    """Pretrain on scikit-learn's digits and compare with random init, 10% of the labels."""
    from ssrl.demo import DEMO_EPOCHS, DEMO_METHOD, demo as run_demo

    result = run_demo(out=out, method=method or DEMO_METHOD, epochs=epochs or DEMO_EPOCHS, progress=not as_json)
    if as_json:
        print(json.dumps(result))
        return
    print(f"\n{result['method']}, {result['epochs']} epochs on digits; {result['split']}; "
          f"{result['labeled']} labeled training images, {result['test']} test images")
    print(table(["backbone", "kNN top-1", "linear top-1"],
                [[name, result[key]["knn"]["top1"], result[key]["linear"]["top1"]]
                 for name, key in [("random init", "random_init"), ("pretrained", "pretrained")]]))
    print(f"run directory: {result['run']}; report: {result['report']}")


def run() -> None:
    """Entry point: the app with one-line errors unless --debug."""
    try:
        app(standalone_mode=False)
    except SsrlError as e:
        if _state["debug"]:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001  (anything else: still one line, the traceback with --debug)
        if _state["debug"] or isinstance(e, SystemExit):
            raise
        if callable(getattr(e, "show", None)) and hasattr(e, "exit_code"):  # click's (or Typer's vendored click's)
            e.show()                                                          # usage errors: usage text, exit 2
            sys.exit(e.exit_code)
        if type(e).__name__ == "Abort":  # Ctrl-C at a prompt
            sys.exit(130)
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
