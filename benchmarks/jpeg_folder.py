"""Benchmark B3's data: a labeled folder of JPEG photographs, as a photo collection stores them.

Every file is a random crop of one of the ten colour photographs that scikit-learn and
scikit-image ship (``colour_images.photographs("all")``; ``pip install scikit-image``), with
sides drawn independently and uniformly in 256..512 px (so the aspect ratio varies), cut at
the photograph's native resolution where it is large enough, else a crop of the same aspect
ratio resized up (bicubic) to the drawn size; saved as JPEG at quality 90 (Pillow's defaults
otherwise: 4:2:0 chroma subsampling, baseline). One class subfolder per source photograph
(``00_china``, ``01_flower``, ...), file i taken from photograph i mod 10, so the folder is
also labeled and balanced.

    python benchmarks/jpeg_folder.py --n 10000 --out /tmp/b3/jpeg10k
    python benchmarks/jpeg_folder.py --n 100000 --out /tmp/b3/jpeg100k
    python benchmarks/jpeg_folder.py --n 300 --out /tmp/b3/smoke            # a smoke folder

The same ``--seed`` gives the same bytes, whatever ``--processes``: file i's crop is drawn from
its own generator, seeded with (seed, i). Besides the folder, ``OUT.json`` (next to it, not in
it, so no image loader sees it) records n, seed, total and mean bytes per file and the seconds
it took. An existing non-empty OUT is refused unless ``--overwrite``.
"""

import argparse
import json
import multiprocessing
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from colour_images import SKIMAGE_PHOTOS, photographs  # noqa: E402

QUALITY = 90
CHUNK = 250  # files per task handed to a process

_PHOTOS: list[np.ndarray] = []  # (H, W, 3) uint8, set in the parent before the processes fork


def photo_names(which: str) -> list[str]:
    """The photographs' names in the order ``photographs(which)`` returns them."""
    from sklearn.datasets import load_sample_images

    names = [Path(f).stem for f in load_sample_images().filenames]  # china, flower
    return names + list(SKIMAGE_PHOTOS) + ["motorcycle"] if which == "all" else names


def crop(photo: np.ndarray, rng: np.random.Generator, min_side: int, max_side: int) -> Image.Image:
    """A crop of drawn height and width (each uniform in min_side..max_side): at native resolution
    where the photo is large enough, else the largest needed crop of that aspect ratio, resized up."""
    h, w = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
    ph, pw = photo.shape[:2]
    scale = max(h / ph, w / pw, 1.0)
    ch, cw = min(ph, round(h / scale)), min(pw, round(w / scale))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    img = Image.fromarray(np.ascontiguousarray(photo[y0:y0 + ch, x0:x0 + cw]))
    return img if (ch, cw) == (h, w) else img.resize((w, h), Image.Resampling.BICUBIC)


def write_files(task: tuple) -> int:
    """Write files start..stop-1; returns the bytes written."""
    out, classes, start, stop, seed, min_side, max_side = task
    total = 0
    for i in range(start, stop):
        k = i % len(_PHOTOS)
        rng = np.random.default_rng([seed, i])
        path = out / classes[k] / f"{i:06d}.jpg"
        crop(_PHOTOS[k], rng, min_side, max_side).save(path, "JPEG", quality=QUALITY)
        total += path.stat().st_size
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, required=True, help="files to write")
    p.add_argument("--out", type=Path, required=True, help="the folder to create")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-side", type=int, default=256, help="smallest crop side, px (default 256)")
    p.add_argument("--max-side", type=int, default=512, help="largest crop side, px (default 512)")
    p.add_argument("--photos", choices=("sklearn", "all"), default="all",
                   help="the ten photographs (default), or scikit-learn's two alone")
    p.add_argument("--processes", type=int, default=2, help="writing processes (default 2)")
    p.add_argument("--overwrite", action="store_true", help="delete OUT first if it holds anything")
    a = p.parse_args()
    if a.n < 1 or not 1 <= a.min_side <= a.max_side or a.processes < 1:
        p.error("need --n >= 1, 1 <= --min-side <= --max-side and --processes >= 1")
    if a.out.exists() and any(a.out.iterdir()):
        if not a.overwrite:
            p.error(f"{a.out} is not empty; remove it or pass --overwrite")
        shutil.rmtree(a.out)

    start_time = time.perf_counter()
    _PHOTOS.extend(np.ascontiguousarray(t.permute(1, 2, 0).numpy()) for t in photographs(a.photos))
    classes = [f"{k:02d}_{name}" for k, name in enumerate(photo_names(a.photos))]
    assert len(classes) == len(_PHOTOS), (classes, len(_PHOTOS))
    for c in classes:
        (a.out / c).mkdir(parents=True, exist_ok=True)
    tasks = [(a.out, classes, s, min(s + CHUNK, a.n), a.seed, a.min_side, a.max_side) for s in range(0, a.n, CHUNK)]
    total, done, shown = 0, 0, 0
    with multiprocessing.get_context("fork").Pool(a.processes) as pool:  # forked: the photos are shared
        for (_, _, s, e, *_), nbytes in zip(tasks, pool.imap(write_files, tasks)):
            total, done = total + nbytes, done + e - s
            if done * 20 // a.n > shown or done == a.n:  # every 5%
                shown = done * 20 // a.n
                print(f"{done:,}/{a.n:,} files, {total / 1e6:,.1f} MB, {time.perf_counter() - start_time:.0f} s",
                      flush=True)
    seconds = time.perf_counter() - start_time
    summary = {"n": a.n, "seed": a.seed, "photos": a.photos, "classes": classes, "min_side": a.min_side,
               "max_side": a.max_side, "quality": QUALITY, "total_bytes": total, "mean_bytes": round(total / a.n),
               "seconds": round(seconds, 1), "processes": a.processes}
    sidecar = a.out.parent / f"{a.out.name}.json"
    sidecar.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{a.out}: {a.n:,} files in {len(classes)} classes, {total:,} bytes ({total / a.n / 1e3:.1f} kB a file), "
          f"{seconds:.1f} s; {sidecar}")


if __name__ == "__main__":
    main()
