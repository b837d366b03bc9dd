"""A picture of label propagation on one video: a few of its frames, the true masks and the masks
each set of features propagated, so that a reader sees what J and F measured (``ssrl.propagate_eval``
saves it beside the result, ``RUN/evaluations/propagate-DATA.png``, and the run report shows it)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ssrl.files import save_atomic  # noqa: E402

COLUMNS = 6  # frames shown, evenly spaced from the first to the last
TINTS = [(1, 1, 0), (0, 1, 1), (1, 0, 1), (0.5, 1, 0), (1, 1, 1), (1, 0.6, 0)]  # bright: seen on any frame


def overlay(frame: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1]: the frame with each object id tinted a colour of its own."""
    out = frame.astype(np.float32) / 255
    for i in np.unique(ids):
        if 0 < i < 255:
            out[ids == i] = 0.35 * out[ids == i] + 0.65 * np.array(TINTS[(int(i) - 1) % len(TINTS)])
    return out


def plot_propagation(frames: torch.Tensor, rows: dict[str, np.ndarray], path: str | Path, title: str) -> Path:
    """Save a grid: one column per shown frame, one row per entry of ``rows`` (name: ids (T, H, W),
    the true masks first), each the frame (uint8 (T, 3, h, w)) with those ids tinted over it."""
    t_all = len(frames)
    shown = sorted({round(i) for i in np.linspace(0, t_all - 1, min(COLUMNS, t_all))})
    size = next(iter(rows.values())).shape[-2:]
    big = F.interpolate(frames[shown].float(), size=size, mode="bilinear", align_corners=False)
    big = big.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    fig, axes = plt.subplots(len(rows), len(shown), figsize=(2 * len(shown), 1.6 * len(rows) + 0.4),
                             dpi=100, squeeze=False)
    for r, (name, ids) in enumerate(rows.items()):
        for c, t in enumerate(shown):
            ax = axes[r][c]
            ax.imshow(overlay(big[c], ids[t]))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return Path(path)
