"""``RUN/report.html``: what a run did and how good its features are, on one page.

Each section is built from the files the run directory holds, so any run (image or text,
finished or not, evaluated or not) gets a report; a section with nothing to show says so and why.
"""

import io
import json
import time
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from ssrl.collapse import collapse_message
from ssrl.config import until_budget
from ssrl.errors import SsrlError
from ssrl.files import read_text, write_atomic
from ssrl.modality import MODALITIES, get_modality, modality_of
from ssrl.report import figures
from ssrl.report.embedding_map import MAP_POINTS, embedding_map
from ssrl.report.evaluations import evaluations_html, summary_html
from ssrl.report.metrics import curves, read_metrics, steps_done
from ssrl.report.page import Missing, Section, document, esc, image, missing, table
from ssrl.runs import run_config

KNN = "knn_top1"
PICTURE_WIDTH = 640  # px: the method's pictures (often 8 images of 28 px) are scaled up to about this


def write_report(run_dir: str | Path) -> Path:
    """Write (or rebuild) ``RUN/report.html`` and return its path. Cheap after the first call
    (the embedding map is cached), so ``ssrl evaluate`` can call it after saving a result."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    builders = [("configuration", "Configuration", lambda: configuration(run_dir)),
                ("training-curves", "Training curves", lambda: training_curves(run_dir)),
                ("knn-monitor", "Online kNN monitor", lambda: knn_monitor(run_dir)),
                ("embedding-map", "Embedding map", lambda: embedding_section(run_dir)),
                ("method-pictures", "The method's pictures", lambda: method_pictures(run_dir)),
                ("evaluations", "Evaluations", lambda: evaluations_html(run_dir / "evaluations"))]
    sections = []
    for sid, title, build in builders:
        try:
            body = build()
        except Missing as e:
            body = missing(str(e))
        sections.append(Section(sid, title, body))
    intro = (f"<p>{esc(cfg.method)} on {esc(cfg.data)}, backbone {esc(cfg.backbone)}, {_length(run_dir, cfg)}. "
             f"Run directory: <code>{esc(run_dir.resolve())}</code>. "
             f"Report written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p>"
             + summary_html(run_dir / "evaluations"))
    page = document(f"ssrl run: {run_dir.name}", intro, sections)
    return write_atomic(run_dir / "report.html", page)  # a browser reloading it never sees half of it


def _length(run_dir: Path, cfg) -> str:
    """The schedule and, where the metrics say so, how much of it ran: a budget or --max-steps
    stops a run before its epochs."""
    length = f"a {cfg.budget} budget" if until_budget(cfg.epochs, cfg.budget) else f"{cfg.epochs} epochs"
    planned = length + (f" at batch {cfg.batch_size}" if cfg.batch_size else "")
    try:
        steps = steps_done(run_dir / "metrics.csv")
    except SsrlError:
        steps = None
    return planned + (f" planned; {steps:,} optimizer steps in its metrics" if steps else "")


def configuration(run_dir: Path) -> str:
    """config.yaml as a table (method parameters and view options one row each; options of other
    modalities left out), and backbone.json."""
    rows, cfg = [], run_config(run_dir)
    own = modality_of(cfg.data) if cfg.modality is None else get_modality(cfg.modality)
    others = {key for m in MODALITIES.values() if m is not own for key in m.run_options} - set(own.run_options)
    for key, v in asdict(cfg).items():
        if key in others:
            continue
        if isinstance(v, dict):
            rows += [[f"{key}.{k}", sub] for k, sub in v.items()] or [[key, "(defaults)"]]
        else:
            rows.append([key, v])
    body = table(["option", "value"], rows)
    spec = run_dir / "backbone.json"
    if not spec.is_file():
        return body + missing("No backbone.json: the run has not finished, so there is no exported backbone yet.")
    try:
        return body + "<p>backbone.json (what rebuilds h_θ):</p>" + table(["field", "value"], list(_json(spec).items()))
    except Missing as e:
        return body + missing(str(e))


def training_curves(run_dir: Path) -> str:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise Missing("No metrics.csv: the run has logged nothing yet.")
    series = _metrics(path)
    grouped = curves(series, exclude=(KNN, "rank_ceiling"))
    if not grouped:
        raise Missing("metrics.csv has no figures yet: they are written every few steps and at each epoch's end.")
    caption = ("Per-step values (thin line) and per-epoch means (dots) against the training step; "
               f"figures: {', '.join(grouped)}.")
    return collapse_warnings(series) + image(figures.training_curves(grouped), "training curves", caption)


def collapse_warnings(series: dict) -> str:
    """One line per epoch whose collapse figures say the embeddings collapsed (as the run warned)."""
    std = series.get("embedding_std_epoch")
    if std is None:
        return ""
    by_epoch = {name: dict(zip(s.epochs, s.values)) for name in ("effective_rank_epoch", "rank_ceiling_epoch")
                if (s := series.get(name)) is not None}
    lines = []
    for epoch, value in zip(std.epochs, std.values):
        rank, ceiling = (by_epoch.get(name, {}).get(epoch) for name in ("effective_rank_epoch", "rank_ceiling_epoch"))
        message = collapse_message(value, rank, ceiling)
        if message is not None:
            lines.append(f"<li>epoch {epoch}: collapsed {esc(message)}</li>")
    if not lines:
        return ""
    return ('<p class="warning"><strong>Collapse warning:</strong> the features are likely useless.</p><ul>'
            + "".join(lines) + "</ul>")


def knn_monitor(run_dir: Path) -> str:
    path = run_dir / "metrics.csv"
    knn = _metrics(path).get(KNN) if path.is_file() else None
    cfg = run_config(run_dir)
    if knn is None and cfg.modality != "image":
        raise Missing(f"No online kNN curve: the kNN monitor (--monitor) scores image runs only, and this is a "
                      f"{cfg.modality} run.")
    if knn is None:
        raise Missing("No online kNN curve: the run had no --monitor LABELED data, so the features were not "
                      "scored while training (pass --monitor to `ssrl pretrain` to get one).")
    return image(figures.knn_curve(knn), "kNN top-1 per epoch",
                 f"Weighted kNN top-1 on held-out images of {cfg.monitor}, after each epoch; "
                 f"last: {knn.values[-1]:.3f}.")


def embedding_section(run_dir: Path) -> str:
    m = embedding_map(run_dir)
    title = f"{m.technique} of {len(m.coords):,} of {m.total:,} images of {m.data}"
    caption = (f"{title} (a fixed random subset of at most {MAP_POINTS:,}), coloured by their labels, which the "
               f"backbone never saw. Technique: {m.technique} (UMAP where installed, else t-SNE, else PCA).")
    return image(figures.embedding_scatter(m.coords, m.labels, m.classes, title), "embedding map", caption)


def method_pictures(run_dir: Path) -> str:
    """PNGs the method wrote into the run directory (``Pretext.save_artifacts``), with the row names
    ``save_image_rows`` keeps beside them."""
    pictures = sorted(run_dir.glob("*.png"))
    if not pictures:
        raise Missing(f"No pictures: {run_config(run_dir).method} draws none (methods with something to show "
                      "write PNGs into the run directory, e.g. the generative methods' reconstructions.png).")
    parts = []
    for png in pictures:
        data = png.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as picture:
                width = picture.width * max(1, PICTURE_WIDTH // picture.width)  # whole multiples stay sharp
        except OSError as e:  # PIL's UnidentifiedImageError is one
            parts.append(missing(f"{png}: not a readable image ({e}); left out."))
            continue
        rows_file, rows = png.with_suffix(".json"), None
        try:
            rows = _json(rows_file).get("rows") if rows_file.is_file() else None
        except Missing as e:
            parts.append(missing(f"{e} The picture's rows are shown without their names."))
        caption = png.name + (f": rows, top to bottom: {' / '.join(rows)}" if rows else "")
        parts.append(image(data, png.stem, caption, width))
    return "".join(parts)


def _json(path: Path):
    """A JSON file of the run directory; a broken one becomes a line of the report that names it."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise Missing(f"{path}, line {e.lineno}: not valid JSON ({e.msg}).") from e
    except SsrlError as e:
        raise Missing(f"{e}.") from e


def _metrics(path: Path):
    try:
        return read_metrics(path)
    except SsrlError as e:  # a damaged metrics.csv costs its sections, not the report
        raise Missing(str(e)) from e
