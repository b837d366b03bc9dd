"""The report's plots, drawn with matplotlib's Agg backend and returned as PNG bytes to inline."""

import io
import math

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ssrl.report.metrics import Series  # noqa: E402

DPI = 100


def png_bytes(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def training_curves(figures: dict[str, dict[str, Series]]) -> bytes:
    """One panel per logged figure: per-step values as a thin line, per-epoch means as dots,
    both against the global step, so a panel reads the same for any logging interval."""
    cols = min(3, len(figures))
    rows = math.ceil(len(figures) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3 * rows), squeeze=False)
    for ax, (name, kinds) in zip(axes.flat, figures.items()):
        if "step" in kinds:
            ax.plot(kinds["step"].steps, kinds["step"].values, lw=0.8, alpha=0.6, label="per step")
        for kind, label in (("epoch", "epoch mean"), ("", "per epoch")):
            if kind in kinds:
                ax.plot(kinds[kind].steps, kinds[kind].values, "o-", ms=4, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(figures):]:
        ax.axis("off")
    fig.tight_layout()
    return png_bytes(fig)


def knn_curve(knn: Series) -> bytes:
    """kNN top-1 of the monitor's held-out queries at the end of each epoch."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    epochs = [e + 1 for e in knn.epochs]  # logged at the end of epoch e (0-based): e + 1 epochs done
    ax.plot(epochs, knn.values, "o-")
    for x, y in zip(epochs, knn.values):
        ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, max(epochs) + 0.5)  # whole epochs, even for a single point
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("kNN top-1")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def embedding_scatter(coords: np.ndarray, labels: np.ndarray, classes: list[str], title: str) -> bytes:
    """The (N, 2) map, one colour per class with a legend of class names."""
    fig, ax = plt.subplots(figsize=(7, 5.5))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, name in enumerate(classes):
        mask = labels == i
        if mask.any():
            ax.scatter(coords[mask, 0], coords[mask, 1], s=6, color=cmap(i % cmap.N), label=name)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(classes) <= 20:
        ax.legend(fontsize=8, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return png_bytes(fig)
