"""Pictures of what a generative pretext task does: rows of input / prediction / truth."""

import json
from pathlib import Path

import torch
from PIL import Image

from ssrl.files import save_atomic, write_atomic


def save_image_rows(path: Path, rows: dict[str, torch.Tensor], max_images: int = 8) -> Path:
    """Write a PNG with one row per entry of ``rows`` (name → (N, C, H, W) in [0, 1], C = 1 or
    3, all the same H and W; grey rows are drawn grey beside colour ones), the first ``max_images`` of each side by side, 2 px apart, rows in
    the given order. The picture itself has no text: the names, top to bottom, go into a JSON
    beside it (``grid.png`` → ``grid.json``: ``{"rows": [...]}``), which the run report shows."""
    tensors = [t[:max_images].detach().float().cpu().clamp(0, 1) for t in rows.values()]
    sizes = {tuple(t.shape[2:]) for t in tensors}
    if len(sizes) != 1 or any(t.ndim != 4 or t.shape[1] not in (1, 3) for t in tensors):
        raise ValueError(f"save_image_rows: rows must be (N, 1 or 3, H, W) of one H, W, got {[tuple(t.shape) for t in tensors]}")
    h, w = sizes.pop()
    n, gap = max(len(t) for t in tensors), 2
    canvas = torch.ones(3, len(tensors) * (h + gap) - gap, n * (w + gap) - gap)
    for r, t in enumerate(tensors):
        for i, img in enumerate(t):
            canvas[:, r * (h + gap):r * (h + gap) + h, i * (w + gap):i * (w + gap) + w] = img.expand(3, h, w)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(canvas.mul(255).round().byte().permute(1, 2, 0).numpy())
    save_atomic(path, lambda f: image.save(f, format="PNG"))
    write_atomic(path.with_suffix(".json"), json.dumps({"rows": list(rows)}) + "\n")
    return path
