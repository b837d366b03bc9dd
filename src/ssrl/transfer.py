"""Transfer: a run's h_θ on labeled data D_t, beside the same backbone at its random init.

``evaluate`` runs one protocol (kNN, linear probe, fine-tuning; ``fewshot`` a label-efficiency
point or curve against a model trained from scratch) and states the verdict; ``score`` is the
protocols for any backbone and labeled pair; ``labeled`` reads D_t encoded as the run's D_s was;
``embed`` writes features. Runs of every modality go through the same code: what differs is the
run's ``Modality`` object (``ssrl.modality``). ``ssrl.api`` re-exports all of them.
"""

import csv
import io
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ssrl.backbones.frames import WIDTH_BY_FRAMES
from ssrl.config import RunConfig
from ssrl.data.objects import as_spec
from ssrl.data.split import keep_label_fraction
from ssrl.errors import SsrlError
from ssrl.evaluation import PROTOCOLS, extract_features, feature_cache
from ssrl.evaluation.features import FLOAT32, Extraction
from ssrl.evaluation.fewshot import Setting, TrainBudget, fewshot_point
from ssrl.evaluation.finetune import finetune_predict
from ssrl.evaluation.layers import LayerReadout
from ssrl.evaluation.label_efficiency import plot_label_efficiency
from ssrl.evaluation.metrics import classification_metrics, few_classes_warning, is_unbalanced
from ssrl.evaluation.options import check_evaluation_options
from ssrl.evaluation.protocols import FROZEN, frozen_scores, num_classes
from ssrl.evaluation.records import evaluation_path, save_evaluation
from ssrl.files import save_atomic, write_atomic
from ssrl.modality import MODALITIES, Modality, Rows, get_modality
from ssrl.propagate_eval import propagate_evaluation
from ssrl.report import write_report
from ssrl.report.verdict import verdict
from ssrl.runs import init_backbone, load_backbone, run_config


def score(backbone: torch.nn.Module, train: Rows, test: Rows, protocols=("knn", "linear"), k: int | None = None,
          temperature: float = 0.1, seed: int = 0, progress: bool | str = False, budget: TrainBudget | None = None,
          augment: torch.nn.Module | None = None, how: Extraction = FLOAT32) -> dict[str, dict]:
    """The figures of each protocol (knn, linear, finetune) for one backbone on a labeled
    train/test pair: ``{protocol: {"top1", "balanced_top1", "predicted_classes", "classes"}}``
    (fractions; kNN adds its ``k``, by default adapted to the bank, ``ssrl.evaluation.knn``), and
    with kNN or linear ``"features"``: the test features' anisotropy and effective rank. Frozen
    features are computed once for the protocols that use them, as ``how`` says (the run's
    autocast and memory format, ``extraction``). ``augment``: the views of fine-tuning
    (``Modality.finetune_views``), or None. ``progress``: bars in a terminal, labelled with the
    backbone's name if it is a string."""
    unknown = set(protocols) - {"knn", "linear", "finetune"}
    if unknown:
        raise SsrlError(f"unknown protocol {sorted(unknown)[0]!r}; choose one of: {', '.join(PROTOCOLS)}")
    out = {}
    frozen = [p for p in protocols if p in FROZEN]
    if frozen:
        who = f"{progress}: " if isinstance(progress, str) else ""
        train_f = extract_features(backbone, train.rows, progress=progress and f"{who}train features", how=how)
        test_f = extract_features(backbone, test.rows, progress=progress and f"{who}test features", how=how)
        out = frozen_scores(train_f, train.labels, test_f, test.labels, frozen, k, temperature, seed)
    if "finetune" in protocols:
        b = budget or TrainBudget()
        pred = finetune_predict(backbone, train.rows, train.labels, test.rows, num_classes(train.labels, test.labels),
                                epochs=b.epochs, lr_backbone=b.lr_backbone, lr_head=b.lr_head,
                                batch_size=b.batch_size, seed=seed, augment=augment, weight_decay=b.weight_decay,
                                progress=progress)
        out["finetune"] = classification_metrics(pred, test.labels)
    return out


FEATURES = "features"  # RUN/features/: frozen features kept between evaluations


def evaluate(run: str | Path, data, protocol: str = "knn", *, test_data=None, labels=None,
             label_fraction: float | None = None, label_fractions: list[float] | None = None,
             per_class: list[int] | None = None, draws: int = 3, classifier: str = "linear",
             budget: TrainBudget | None = None, k: int | None = None, temperature: float = 0.1, seed: int = 0,
             progress: bool = False, save: bool = True, limit: int | None = None, features: str | Path | None = None,
             layer: int | None = None, **data_options) -> dict:
    """Evaluate a run's backbone on labeled data, beside the same backbone at its random init.

    ``data`` and ``test_data``: paths, data-set names, or labeled images as Python objects (an
    ``(images, labels)`` pair, ``images`` with ``labels=``, a labeled ``Dataset``:
    ``ssrl.data.objects``). ``data_options`` are the run's modality's (images: ``skip_bad``,
    ``image_size``; text: ``label_column``, ``text_column``, ``pool``); ``limit``: only the first N
    rows of each split. ``features``: where frozen features are kept between evaluations (default
    ``RUN/features``; ``ssrl bench`` shares one folder, so its methods' common random-init floor is
    computed once). ``layer`` (knn, linear; images): read h_θ's feature map ``layer`` (1 = the
    finest) pooled to about 9,000 dimensions instead of h_θ's own feature, for both backbones
    (``ssrl.evaluation.layers``: the per-layer probe of Zhang et al. 2016).
    knn, linear, finetune: ``{"top1", "balanced_top1", "predicted_classes", "random_init_top1",
    ..., "protocol", "split", "unbalanced", "warnings", "verdict", "beats_floor", "causes"}``
    (fractions; see ``score``; kNN's ``k`` is adapted to the bank unless given); for finetune the
    random-init row is a supervised model trained from scratch with the same protocol. The
    verdict compares balanced accuracy (``ssrl.report.verdict``). fewshot: see ``fewshot``. propagate
    (``data`` a DAVIS-layout folder of videos with masks): J, F and J&F of label propagation beside
    random init and the pixel baseline (``ssrl.propagate_eval``; ``image_size``: the frames' side). With
    ``save`` the result is also written to ``RUN/evaluations/<protocol>-<data name>.json`` (its path
    in ``"saved"``), and ``RUN/report.html`` is rebuilt to show it.
    """
    check_evaluation_options(k=k, label_fraction=label_fraction, label_fractions=label_fractions,
                             per_class=per_class, draws=draws, budget=budget, limit=limit)
    data, test_data = as_spec(data, labels), as_spec(test_data)
    if protocol not in PROTOCOLS:
        raise SsrlError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    _check_protocol(run, modality, protocol)
    options = {} if protocol == "propagate" else modality.check_options(data_options)
    _check_layer(run, modality, protocol, layer)
    if protocol in ("finetune", "fewshot") and options.get("pool") in WIDTH_BY_FRAMES:
        raise SsrlError(f"--pool {options['pool']}: its width grows with the clip's frames, so it feeds the frozen "
                        "probes (knn, linear), not a classifier trained with h_θ (finetune, fewshot)")
    if protocol == "fewshot":
        result = fewshot(run, data, test_data=test_data, label_fractions=label_fractions or (
            [label_fraction] if label_fraction is not None else None), per_class=per_class, draws=draws,
            classifier=classifier, budget=budget, seed=seed, progress=progress, limit=limit, features=features,
            **options)
        name = ("fewshot" if len(result["points"]) == 1 else "label_efficiency") + (
            "_finetune" if classifier == "finetune" else "")  # both classifiers' results are kept
        if cfg.init != "random":
            result["floor"] = floor_name(cfg)
    elif protocol == "propagate":  # videos with masks, not labeled rows, and options of its own
        result = propagate_evaluation(run, data, limit=limit, progress=progress, save=save, test_data=test_data,
                                      **data_options)
        name = protocol
    else:
        budget = budget or TrainBudget()
        fraction = 1.0 if label_fraction is None else label_fraction
        train, test, split = labeled(run, data, test_data=test_data, label_fraction=fraction, seed=seed, limit=limit,
                                     **options)
        how = extraction(cfg, features or Path(run) / FEATURES)
        floor_how = how if features else replace(how, cache=feature_cache.shared_floors() or how.cache)  # runs share it
        scores = {prefix: score(_read(modality, backbone, options, layer, options.get("image_size") or cfg.image_size),
                                train, test, (protocol,), k,
                                temperature, seed, progress and who, budget, modality.finetune_views(budget.augment),
                                extracted)
                  for prefix, who, backbone, extracted in (("", "pretrained", load_backbone(run), how),
                                                           ("random_init_", "random init", init_backbone(cfg),
                                                            floor_how))}
        result = {"run": str(run), "data": data, "protocol": protocol, **modality.result_fields(**options),
                  **({"layer": layer} if layer else {}),
                  **({"floor": floor_name(cfg)} if cfg.init != "random" else {}),
                  "split": split, "label_fraction": fraction, "n_train": len(train), "n_test": len(test),
                  "unbalanced": is_unbalanced(train.labels, test.labels), **protocol_figures(scores, protocol)}
        if protocol == "finetune":
            result["budget"] = asdict(budget)
        result.update(verdict(run, result))
        name = protocol
    if save:
        saved_as = f"{data}-{options['label_column']}" if options.get("label_column") else data  # one file a labelling
        if options.get("pool") not in (None, "mean"):  # and one a pooling other than the default mean
            saved_as += f"-pool-{options['pool']}"
        if layer:  # and one a layer read
            saved_as += f"-layer{layer}"
        if name == "label_efficiency":
            result["plot"] = str(plot_label_efficiency(
                result["points"], evaluation_path(run, name, saved_as, ".png"),
                f"{cfg.method} on {Path(data).name}: label efficiency"))
        result["saved"] = str(evaluation_path(run, name, saved_as))
        save_evaluation(run, name, saved_as, result)
        write_report(run)  # the report's evaluation section shows every saved result
    return result


SHARED = ("classes", "k", "dim")  # the same for both backbones: one key in an evaluation result


def protocol_figures(scores: dict[str, dict], protocol: str) -> dict:
    """One protocol's figures for each backbone (``scores``: ``{prefix: score(...)}``, prefix ""
    for the pretrained one) as flat keys (``top1``, ``random_init_top1``, ...; the features'
    geometry too), and ``warnings`` for classifiers that predicted only a few classes."""
    out, warnings = {}, []
    for prefix, figures in scores.items():
        for key, v in {**figures[protocol], **figures.get("features", {})}.items():
            out[key if key in SHARED else prefix + key] = v
        who = f"the {'random-init' if prefix else 'pretrained'} backbone's {protocol} classifier"
        warnings.append(few_classes_warning(figures[protocol], who))
    out["warnings"] = [w for w in warnings if w]
    return out


def floor_name(cfg: RunConfig) -> str:
    """What the ``random_init_`` figures of a run's evaluations are: the backbone at its start."""
    return "random init" if cfg.init == "random" else f"{cfg.backbone}'s published weights (the run's start)"


def extraction(cfg: RunConfig, cache: str | Path | None = None) -> Extraction:
    """How a run's features are computed: under the run's precision and in its memory format
    (a run saved before ``channels_last`` was resolved gets its modality's choice); with
    ``cache``, kept in that folder for the next evaluation (``ssrl.evaluation.feature_cache``)."""
    channels_last = (get_modality(cfg.modality).channels_last_for(cfg.backbone) if cfg.channels_last is None
                     else cfg.channels_last)
    return Extraction(precision=cfg.precision, channels_last=channels_last,
                      cache=None if cache is None else Path(cache))


def _read(modality: Modality, backbone: torch.nn.Module, options: dict, layer: int | None, side: int):
    """The backbone as the frozen protocols read it: the modality's feature, or map ``layer`` of it."""
    backbone = modality.feature_backbone(backbone, **options)
    return LayerReadout(backbone, layer, side) if layer else backbone


def _check_layer(run, modality: Modality, protocol: str, layer: int | None) -> None:
    if layer is None:
        return
    if modality.name != "image" or protocol not in FROZEN:
        raise SsrlError(f"{run}: --layer reads an image backbone's feature map for the knn and linear protocols "
                        f"(here: protocol {protocol}, modality {modality.name})")
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
        raise SsrlError(f"--layer must be a whole number ≥ 1 (1 = the finest map), got {layer!r}")


def _check_protocol(run, modality: Modality, protocol: str) -> None:
    if protocol not in modality.protocols:
        takes = " or ".join(m.name for m in MODALITIES.values() if protocol in m.protocols)
        raise SsrlError(f"{run}: the {protocol} protocol takes {takes} runs, this is a {modality.name} run "
                        f"(use {', '.join(modality.protocols)})")


def fewshot(run: str | Path, data: str, *, test_data: str | None = None, label_fractions: list[float] | None = None,
            per_class: list[int] | None = None, draws: int = 3, classifier: str = "linear",
            budget: TrainBudget | None = None, seed: int = 0, progress: bool = False, limit: int | None = None,
            features: str | Path | None = None, **data_options) -> dict:
    """Few-shot top-1 of a run's backbone at each number of labels (``label_fractions``, default
    1%, or ``per_class``), over ``draws`` class-balanced draws, beside the random-init backbone and a
    supervised model trained from scratch (``ssrl.evaluation.fewshot``). Returns ``{"points": [...],
    ...}``; with one setting the point's keys (``top1_mean``, ``top1_std``, ``scratch_top1_mean``,
    ``random_init_top1_mean``, per-draw lists) are also at the top level."""
    check_evaluation_options(label_fractions=label_fractions, per_class=per_class, draws=draws, budget=budget)
    data, test_data = as_spec(data), as_spec(test_data)
    if label_fractions and per_class:
        raise SsrlError("give label fractions or labels per class, not both")
    settings = ([Setting(per_class=n) for n in per_class] if per_class
                else [Setting(fraction=f) for f in (label_fractions or [0.01])])
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    _check_protocol(run, modality, "fewshot")
    train, test, split = labeled(run, data, test_data=test_data, seed=seed, limit=limit, **data_options)
    pretrained, random_init = (modality.feature_backbone(b, **data_options) for b in (load_backbone(run),
                                                                                  init_backbone(cfg)))
    augment = modality.finetune_views((budget or TrainBudget()).augment)
    points = [fewshot_point(pretrained, random_init, train.rows, train.labels, test.rows, test.labels, s,
                            draws=draws, seed=seed, classifier=classifier, budget=budget, augment=augment,
                            progress=progress, how=extraction(cfg, features or Path(run) / FEATURES))
              for s in settings]
    result = {"run": str(run), "data": data, "protocol": "fewshot", "split": split, "n_test": len(test),
              "classifier": "linear probe on frozen features" if classifier == "linear" else "fine-tuned",
              "scratch": "same architecture from the same random init, all weights trained, same epochs",
              "points": points}
    result["unbalanced"] = is_unbalanced(train.labels, test.labels)
    if len(points) == 1:
        result.update({k: v for k, v in points[0].items() if k not in ("classifier", "warnings")})
        result.update(verdict(run, result, "balanced_top1_mean"))
    return result


def labeled(run: str | Path, data, *, test_data=None, label_fraction: float = 1.0,
            seed: int = 0, limit: int | None = None, **data_options) -> tuple[Rows, Rows, str]:
    """D_t's train and test rows, encoded as the run's D_s was (its image size, its tokenizer,
    unless ``image_size`` is given), the first ``limit`` of each split if given, with a
    class-balanced ``label_fraction`` of the train labels, and the sentence describing the split."""
    check_evaluation_options(limit=limit)
    data, test_data = as_spec(data), as_spec(test_data)
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    train, test, split = modality.labeled(Path(run), cfg, data, test_data=test_data, seed=seed, **data_options)
    if limit:
        train, test = train.subset(slice(0, limit)), test.subset(slice(0, limit))
        split += f"; the first {len(train):,} training and {len(test):,} test {modality.unit} (--limit {limit})"
    _check_fits(cfg, modality, load_backbone(run), test.rows, data)
    train, note = keep_label_fraction(train, label_fraction, seed, unit=modality.unit)
    return train, test, split + note


def _check_fits(cfg: RunConfig, modality: Modality, backbone: torch.nn.Module, rows, data: str) -> None:
    """One forward pass of the run's trained ``backbone`` (as the protocols read it:
    ``Modality.feature_backbone``) on the first row, so that data it cannot take (images at an
    ``image_size`` a ViT's patches do not tile) is refused naming the data, before any feature
    is computed. Not the init: a run from published weights would fetch them for this."""
    backbone = modality.feature_backbone(backbone).eval()
    try:
        with torch.no_grad():
            backbone(modality.to_input(rows[:1]))
    except (RuntimeError, ValueError) as e:  # a shape mismatch; a ViT's patch grid
        raise SsrlError(f"{data}: the run's {cfg.backbone} backbone cannot take these {modality.unit} "
                        f"({' '.join(str(e).split())[:300]})") from e


def embed(run: str | Path, data, out: str | Path | None = None, limit: int | None = None,
          per_clip: bool = False, **data_options) -> np.ndarray:
    """Features (N, dim) of every row of ``data`` (the first ``limit`` if given; images, at the
    run's size or ``image_size``; text runs pool the token features, see ``ssrl.modality.text``)
    under the run's backbone; saved to ``out`` (.npy) if given. Where
    ``out`` names a format of the modality's own (text: .txt or .vec, the vocabulary's vectors in
    word2vec's format) that is written instead, and ``data`` is not needed. ``per_clip`` (video
    runs): one row per clip, every clip of every video cut as the run cuts its clips
    (``ssrl.data.video.every_clip``), and with ``out`` a table ``OUT.clips.csv`` of each row's
    video and first frame."""
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    options = modality.check_options(data_options)
    backbone = load_backbone(run)
    own = modality.own_output(Path(run), backbone, Path(out)) if out is not None else None
    if own is not None:
        return own
    if data is None:
        raise SsrlError("embed needs --data")
    data = as_spec(data)
    check_evaluation_options(limit=limit)
    if per_clip:
        if not hasattr(modality, "embed_clips"):
            raise SsrlError(f"--per-clip embeds every clip of every video; {run} is a {cfg.modality} run")
        rows, clips = modality.embed_clips(cfg, data, **options)
    else:
        rows = modality.embed_rows(Path(run), cfg, data, **options)
    rows = rows.narrow(0, 0, min(limit, len(rows))) if limit else rows  # encoded images stay encoded
    _check_fits(cfg, modality, backbone, rows, data)
    backbone = modality.feature_backbone(backbone, **options)
    features = extract_features(backbone, rows, progress="embedding", how=extraction(cfg)).numpy()
    if out is not None:
        save_atomic(out, lambda f: np.save(f, features))
        if per_clip:  # which video and frames each row is
            table = io.StringIO()
            csv.writer(table, lineterminator="\n").writerows(
                [("row", "video", "first_frame"), *((i, v, start) for i, (v, start) in enumerate(clips[:len(features)]))])
            write_atomic(Path(out).with_suffix(".clips.csv"), table.getvalue())
    return features
