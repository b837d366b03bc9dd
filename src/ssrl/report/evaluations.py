"""Evaluation results (``RUN/evaluations/*.json`` and ``*.png``, written by ``ssrl evaluate``) as
HTML: each result beside its baselines, SSL vs random init vs supervised from scratch.

A figure ``F`` has baselines where the JSON also holds ``random_init_F`` or ``scratch_F``;
``F_mean`` with ``F_std`` (several seeded draws) reads as "mean ± std". Everything else in the
file is shown too (settings as a key/value table, lists of records as tables), so a protocol
added later needs no change here.
"""

import io
import json
from pathlib import Path

from PIL import Image

from ssrl.errors import SsrlError
from ssrl.files import read_text
from ssrl.report.page import Missing, esc, image, missing, table

BASELINES = (("random_init_", "random init"), ("scratch_", "supervised from scratch"),
             ("pixel_", "pixel colours"))  # label propagation's no-learning baseline (ssrl.propagate_eval)


def evaluations_html(folder: Path) -> str:
    """Every JSON in ``folder`` as tables and every PNG inlined, in file-name order."""
    files = sorted(folder.glob("*.json")) + sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not files:
        raise Missing("No evaluations yet: run `ssrl evaluate RUN --data LABELED --protocol ...` "
                      "(it saves each result in RUN/evaluations/), then `ssrl report RUN`.")
    parts = []
    for path in files:
        parts.append(f"<h3>{esc(path.name)}</h3>")
        if path.suffix == ".png":
            data = path.read_bytes()
            try:
                Image.open(io.BytesIO(data)).verify()
            except (OSError, SyntaxError) as e:  # PIL reports a damaged PNG as either
                parts.append(missing(f"{path}: not a readable image ({e}); left out."))
                continue
            parts.append(image(data, path.stem, path.name))
            continue
        try:
            result = json.loads(read_text(path))
        except json.JSONDecodeError as e:
            parts.append(missing(f"{path}, line {e.lineno}: not valid JSON ({e.msg}); left out"))
            continue
        except SsrlError as e:
            parts.append(missing(f"{e}; left out"))
            continue
        parts.append(result_html(result))
    return "".join(parts)


def summary_html(folder: Path) -> str:
    """At a glance: each saved evaluation that has a verdict, whether it beat random init, and the
    verdict; "" when there is none (the Evaluations section says why)."""
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            result = json.loads(read_text(path))
        except (json.JSONDecodeError, SsrlError):
            continue
        if isinstance(result, dict) and isinstance(result.get("verdict"), str):
            rows.append([path.stem, "yes" if result.get("beats_floor") else "no", result["verdict"]])
    return "<p>At a glance:</p>" + table(["evaluation", "beats its floor", "verdict"], rows) if rows else ""


def result_html(result) -> str:
    """One evaluation result (a JSON object, or a list of records) as tables."""
    if isinstance(result, list):
        return records_table(result)
    if not isinstance(result, dict):
        return f"<pre>{esc(json.dumps(result, indent=2))}</pre>"
    parts = [verdict_html(result)]
    result = {k: v for k, v in result.items() if k not in ("verdict", "beats_floor", "causes", "warnings")}
    rows, used = comparison_rows(result)
    present = [(p, result.get("floor", name) if p == "random_init_" else name) for p, name in baselines_in([result])]
    if rows:
        parts.append(table(["figure", "pretrained (SSL)", *[name for _, name in present]],
                           [[figure, *[value(result, p + key) for p in ("", *[p for p, _ in present])]]
                            for figure, key in rows]))
    details = [[k, v] for k, v in result.items() if k not in used and not isinstance(v, (list, dict))]
    if details:
        parts.append(table(["setting", "value"], details))
    for k, v in result.items():
        if isinstance(v, (list, dict)) and k not in used:
            parts.append(f"<p>{esc(k)}:</p>" + (records_table(v) if isinstance(v, list) else
                                                  f"<pre>{esc(json.dumps(v, indent=2))}</pre>"))
    return "".join(parts)


def verdict_html(result: dict) -> str:
    """The verdict (did pretraining beat its floor), the likely causes when it did not, and the
    classifiers' warnings, above the figures; "" for results without them."""
    warnings = [w for w in result.get("warnings", []) if isinstance(w, str)]
    html = "".join(f'<p class="warning"><strong>Warning:</strong> {esc(w)}</p>' for w in warnings)
    if isinstance(result.get("verdict"), str):
        css = "" if result.get("beats_floor") else ' class="warning"'
        causes = [c for c in result.get("causes", []) if isinstance(c, str)]
        html += f"<p{css}><strong>Verdict:</strong> {esc(result['verdict'])}</p>"
        html += ("<p>Likely causes, from this run's records:</p><ul>" + "".join(f"<li>{esc(c)}</li>" for c in causes)
                 + "</ul>") if causes else ""
    return html


def baselines_in(results: list[dict]) -> list[tuple[str, str]]:
    return [(p, name) for p, name in BASELINES if any(k.startswith(p) for r in results for k in r)]


def comparison_rows(result: dict) -> tuple[list[tuple[str, str]], set[str]]:
    """(figure name, key) of every figure that has a baseline, and every key those rows show."""
    rows, used = [], set()
    for key in result:
        if any(key.startswith(p) for p, _ in BASELINES) or not any(p + key in result for p, _ in BASELINES):
            continue
        if key.endswith("_std") and key[: -len("_std")] + "_mean" in result:  # shown with its mean
            continue
        figure = key[: -len("_mean")] if key.endswith("_mean") else key
        if key != figure or figure + "_mean" not in result:  # a per-draw list beside its mean: show the mean
            rows.append((figure, key))
        for prefix in ("", *[p for p, _ in BASELINES]):
            used |= {prefix + key, prefix + figure + "_std"}
    return rows, used


def value(result: dict, key: str) -> str:
    """``result[key]`` for a table cell, with "± std" where a ``_std`` goes with a ``_mean``."""
    if key not in result:
        return "—"
    v = result[key]
    std = result.get(key[: -len("_mean")] + "_std") if key.endswith("_mean") else None
    if isinstance(v, (int, float)) and isinstance(std, (int, float)):
        return f"{v:.4f} ± {std:.4f}"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def records_table(records: list) -> str:
    """A list of JSON objects (one per setting: a label-efficiency curve's points) as one table:
    the settings, then each figure beside its baselines. Lists and objects inside the records
    (per-draw values, training budgets) stay in the JSON file, and the table says so."""
    if not records or not all(isinstance(r, dict) for r in records):
        return f"<pre>{esc(json.dumps(records, indent=2))}</pre>"
    figures, used = {}, set()
    for r in records:
        rows, keys = comparison_rows(r)
        figures.update(dict(rows))
        used |= keys
    nested = sorted({k for r in records for k, v in r.items() if isinstance(v, (list, dict)) and k not in used})
    settings = [k for k in dict.fromkeys(k for r in records for k in r)
                if k not in used and k not in nested and any(r.get(k) is not None for r in records)]
    present = [("", "pretrained"), *baselines_in(records)]
    header = settings + [f"{figure}: {name}" for figure in figures for _, name in present]
    body = [[r.get(k, "—") for k in settings] + [value(r, p + key) for key in figures.values() for p, _ in present]
            for r in records]
    note = f"<p>In the JSON file only: {', '.join(nested)}.</p>" if nested else ""
    return table(header, body) + note
