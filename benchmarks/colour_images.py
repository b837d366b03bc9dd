"""A colour data set built offline from the two photographs scikit-learn ships (china.jpg and
flower.jpg, 427×640 each, ``sklearn.datasets.load_sample_images``): random square crops of
random size, shrunk to SIZE px with antialiasing, randomly flipped, as uint8 (N, SIZE, SIZE, 3).
``--photos all`` adds the eight colour photographs scikit-image ships in its wheel (astronaut,
cat, coffee, rocket, motorcycle, Hubble deep field, immunohistochemistry, retina; 300-1411 px a
side; ``pip install scikit-image``), ten in all.

    python benchmarks/colour_images.py                     # runs/colour32.npy, runs/colour32_heldout.npy
    python benchmarks/colour_images.py --n 8000 --size 48  # runs/colour48.npy, ...
    python benchmarks/colour_images.py --photos all        # crops of ten photographs
    ssrl pretrain --data runs/colour32.npy --method colorization --epochs 20

Crops of the training file come from the left 80% of each photograph, the held-out file's
from the right 20% (``--heldout-fraction``), so no held-out pixel is ever trained on; the
held-out file is what ``benchmarks/colour_tasks.py`` measures reconstructions on. A crop's
side is log-uniform between SIZE (native resolution) and ``--max-side`` px (at most the
held-out strip's width), so the set mixes fine texture with shrunk whole objects.
"""

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_sample_images
from torchvision.transforms.v2 import functional as TF


SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def photographs(which: str = "sklearn") -> list[torch.Tensor]:
    """The sample photographs as uint8 (3, H, W) tensors: scikit-learn's two, or with ``which`` =
    "all" scikit-image's eight as well (the left view of its stereo motorcycle pair)."""
    images = list(load_sample_images().images)
    if which == "all":
        try:
            from skimage import data
        except ImportError:
            raise SystemExit("--photos all needs scikit-image: pip install scikit-image") from None
        images += [getattr(data, name)() for name in SKIMAGE_PHOTOS] + [data.stereo_motorcycle()[0]]
    return [torch.from_numpy(np.array(img)).permute(2, 0, 1) for img in images]


def random_crops(photos: list[torch.Tensor], n: int, size: int, max_side: int, columns: tuple[float, float],
                 generator: torch.Generator) -> np.ndarray:
    """n crops (n, size, size, 3) uint8 from the column band ``columns`` (fractions of the width)
    of randomly chosen photos: side log-uniform in [size, max_side], position uniform, shrunk
    to ``size`` with antialiasing, flipped left-right with probability 1/2."""
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[int(torch.randint(len(photos), (1,), generator=generator))]
        _, h, w = photo.shape
        left, right = int(columns[0] * w), int(columns[1] * w)
        top_side = min(max_side, right - left, h)
        u = float(torch.rand((), generator=generator))
        side = int(round(math.exp(math.log(size) + u * (math.log(top_side) - math.log(size)))))
        x0 = left + int(torch.randint(right - left - side + 1, (1,), generator=generator))
        y0 = int(torch.randint(h - side + 1, (1,), generator=generator))
        crop = TF.resize(photo[:, y0:y0 + side, x0:x0 + side], [size, size], antialias=True)
        if float(torch.rand((), generator=generator)) < 0.5:
            crop = crop.flip(-1)
        out[i] = crop.permute(1, 2, 0).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=6000, help="training crops")
    parser.add_argument("--heldout", type=int, default=1000, help="held-out crops")
    parser.add_argument("--size", type=int, default=32, help="side of the crops in px")
    parser.add_argument("--max-side", type=int, default=128, help="largest crop side before shrinking, px")
    parser.add_argument("--heldout-fraction", type=float, default=0.2, help="right-hand share of each photo held out")
    parser.add_argument("--photos", choices=("sklearn", "all"), default="sklearn",
                        help="scikit-learn's two photographs, or all ten with scikit-image's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="training file (default runs/colourSIZE.npy)")
    args = parser.parse_args()
    if args.max_side < args.size or not 0 < args.heldout_fraction < 1:
        parser.error("--max-side must be at least --size and --heldout-fraction in (0, 1)")

    out = args.out or Path("runs") / f"colour{args.size}.npy"
    heldout_out = out.with_name(f"{out.stem}_heldout.npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    photos, g = photographs(args.photos), torch.Generator().manual_seed(args.seed)
    split = 1 - args.heldout_fraction
    np.save(out, random_crops(photos, args.n, args.size, args.max_side, (0.0, split), g))
    np.save(heldout_out, random_crops(photos, args.heldout, args.size, args.max_side, (split, 1.0), g))
    print(f"{out}: {args.n} crops of {args.size}×{args.size}×3; {heldout_out}: {args.heldout} held-out crops")


if __name__ == "__main__":
    main()
