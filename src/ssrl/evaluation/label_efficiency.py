"""Label-efficiency curve: top-1 against the number of labels, pretrained vs from scratch vs
random init, each point a few-shot evaluation (``fewshot_point``) with std over draws as error bars.

It answers the second question of self-supervision: how many labels do the learned features save?
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from ssrl.files import save_atomic  # noqa: E402

CURVES = (("top1", "pretrained"), ("scratch_top1", "supervised from scratch"), ("random_init_top1", "random init"))


def plot_label_efficiency(points: list[dict], path: str | Path, title: str) -> Path:
    """Write the curve of ``points`` (``fewshot_point`` results) as a PNG; x is labels, log scale."""
    points = sorted(points, key=lambda p: p["n_labels"])
    n = [p["n_labels"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for key, label in CURVES:
        ax.errorbar(n, [p[f"{key}_mean"] for p in points], yerr=[p[f"{key}_std"] for p in points],
                    marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("labeled training images")
    ax.set_ylabel("test top-1")
    classifier = "linear probe" if points[0]["classifier"] == "linear" else "fine-tuned"
    ax.set_title(f"{title}\n(pretrained and random init: {classifier}; mean ± std over {points[0]['draws']} draws)",
                 fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return Path(path)
