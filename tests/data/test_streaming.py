"""Image folders and their LitData shards, streamed (decoded while training) or decoded into
memory: the same images, labels and batches whichever way, the choice stated, bad files named."""

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image

from ssrl.api import embed, evaluate, pretrain
from ssrl.data import load_labeled, load_source
from ssrl.data.shards import MANIFEST, prepare
from ssrl.errors import DataError, SsrlError
from ssrl.runs import load_backbone


def write_photos(root: Path, n: int, seed: int = 0, split: bool = False) -> Path:
    """``n`` JPEGs of random sizes (16 to 40 px a side, so aspect ratios vary) in two class
    folders, under ``train/`` and ``test/`` (every fourth image) when ``split``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        part = ("test" if i % 4 == 3 else "train") if split else ""
        folder = root / part / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        h, w = rng.integers(16, 41, 2)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i:04d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos"), 64)


@pytest.fixture(scope="module")
def shards(photos, tmp_path_factory) -> Path:
    return prepare(photos, tmp_path_factory.mktemp("shards") / "photos", workers=2)


def test_shards_read_as_the_folder_they_were_prepared_from(tmp_path):
    folder = write_photos(tmp_path / "split", 24, split=True)
    shards = prepare(folder, tmp_path / "shards", workers=1)
    a_train, a_test, a_note = load_labeled(str(folder), image_size=20)
    b_train, b_test, b_note = load_labeled(str(shards), image_size=20)
    assert torch.equal(a_train.images, b_train.images) and torch.equal(a_test.images, b_test.images)
    assert torch.equal(a_train.labels, b_train.labels) and torch.equal(a_test.labels, b_test.labels)
    assert a_train.classes == b_train.classes == ["class0", "class1"]
    assert a_note == b_note == "test split: the data set's own (train/ and test/ subfolders)"
    manifest = json.loads((shards / MANIFEST).read_text())
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 18, "test": 6}


def test_the_working_size_and_channels_are_the_folders(photos, shards):
    a, b = load_source(str(photos)), load_source(str(shards))
    assert a.images.shape == b.images.shape and a.images.shape[1] == 3
    assert torch.equal(a.images, b.images)


class Batches(Callback):
    """Every training batch's images, as the engine received them."""

    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.seen.append(batch[0].cpu().clone())


def test_streamed_folder_and_shards_train_on_the_same_batches_as_memory(photos, shards, tmp_path):
    runs = {}
    for name, data, stream in [("memory", photos, False), ("folder", photos, True), ("shards", shards, True)]:
        batches = Batches()
        run = pretrain(str(data), "simclr", out=tmp_path / name, stream=stream, epochs=2, batch_size=16,
                       image_size=24, precision="32-true", progress=False, callbacks=[batches])
        runs[name] = batches.seen, load_backbone(run).state_dict()
    seen, weights = runs["memory"]
    assert len(seen) == 8  # 2 epochs of 64 // 16
    for name in ("folder", "shards"):
        assert all(torch.equal(a, b) for a, b in zip(seen, runs[name][0], strict=True)), name
        assert all(torch.equal(weights[k], runs[name][1][k]) for k in weights), name


def _notices(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "ssrl")


def test_the_run_says_which_path_it_took_and_why(photos, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ssrl"):
        pretrain(str(photos), "rotation", out=tmp_path / "small", max_steps=1, batch_size=16, progress=False)
    assert "64 images at 22 px, 3 channel(s): decoded into memory (91 KB decoded, within the memory budget of" \
        in _notices(caplog)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ssrl"):
        pretrain(str(photos), "rotation", out=tmp_path / "big", max_steps=1, batch_size=16, progress=False,
                 memory_budget="10KB")
    assert "streamed from disk, decoded while training (91 KB decoded, over the memory budget of 10 KB)" \
        in _notices(caplog)


def _truncated_jpeg(path: Path) -> None:
    """A JPEG whose header reads but whose pixel data stops just after it starts."""
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"\xff\xda") + 20])  # start of scan marker + a few bytes


def test_a_corrupt_jpeg_inside_shards_is_named_or_skipped_and_counted(tmp_path):
    folder = write_photos(tmp_path / "photos", 32)
    _truncated_jpeg(folder / "class1" / "0005.jpg")
    shards = prepare(folder, tmp_path / "shards", workers=1)
    with pytest.raises(DataError, match=r"item \d+ \(class1/0005\.jpg\): cannot decode"):
        pretrain(str(shards), "rotation", out=tmp_path / "stops", stream=True, epochs=1, batch_size=16,
                 progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(str(shards), "rotation", out=tmp_path / "skips", stream=True, epochs=1, batch_size=16,
                 progress=False, skip_bad=True)
    messages = [str(w.message) for w in caught]
    # decoded by a DataLoader worker while training, counted in the training process at its end
    assert any(m.startswith("skipped 1 unreadable image file(s) while training (--skip-bad); first: ")
               and "item 18 (class1/0005.jpg): cannot decode image (OSError" in m for m in messages), messages


def test_prepare_twice_does_nothing_and_an_unfinished_prepare_completes(photos, shards, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ssrl"):
        assert prepare(photos, shards) == shards
    assert "already prepared" in _notices(caplog)
    with pytest.raises(DataError, match="already holds the shards of"):
        prepare(write_photos(tmp_path / "other", 4), shards)
    again = tmp_path / "again"
    prepare(photos, again, workers=1)
    (again / MANIFEST).unlink()  # as if killed before it was written
    prepare(photos, again, workers=1)
    assert torch.equal(load_source(str(again)).images, load_source(str(shards)).images)


def test_prepare_names_an_unreadable_file_or_skips_it_with_skip_bad(tmp_path):
    folder = write_photos(tmp_path / "photos", 8)
    (folder / "class0" / "0002.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="0002.jpg"):
        prepare(folder, tmp_path / "stops")
    prepare(folder, tmp_path / "skips", skip_bad=True)
    assert len(load_source(str(tmp_path / "skips"))) == 7


PEAK_RSS = """
import resource, sys
from ssrl.api import embed, evaluate, pretrain
pretrain(sys.argv[1], "rotation", out=sys.argv[2], stream=True, max_steps=6, batch_size=16, image_size=16,
         progress=False)
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print("peak_kib", peak)
"""


def _peak_rss_kib(data: Path, out: Path) -> int:
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(data), str(out)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split("peak_kib")[-1])


def test_a_streamed_run_over_20x_more_files_takes_no_more_memory(tmp_path):
    """Peak RSS of a few streamed steps over shards of 100 and of 2,000 images (B3 in
    BENCHMARKS.md has the figures at 10,000 and 100,000)."""
    peaks = {}
    for n in (100, 2000):
        shards = prepare(write_photos(tmp_path / f"photos{n}", n), tmp_path / f"shards{n}", workers=2)
        peaks[n] = _peak_rss_kib(shards, tmp_path / f"run{n}")
    assert peaks[2000] <= 1.1 * peaks[100] + 20_000, peaks  # +20 MB: the index of 2,000 rows and noise


def _device_and_cpu_decoded(folder: Path, device: str, skip_bad: bool = False):
    images = load_source(str(folder), image_size=24, encoded=True).images
    images.skip_bad = skip_bad
    rows = torch.arange(len(images))
    on_device, skipped = images.encoded(rows).decode(torch.device(device))
    return on_device.cpu(), images, skipped


def test_decoding_on_the_device_matches_the_cpu_decoder_to_rounding(tmp_path):
    folder = write_photos(tmp_path / "photos", 12)
    Image.open(folder / "class0" / "0000.jpg").save(folder / "class0" / "0000.png")  # not a JPEG: decoded on the CPU
    on_device, images, skipped = _device_and_cpu_decoded(folder, "cpu")
    on_cpu = images[torch.arange(len(images))]
    assert on_device.shape == on_cpu.shape == (13, 3, 24, 24) and not skipped
    diff = (on_device.float() - on_cpu.float()).abs()
    assert diff.mean() < 2.0, diff.mean()  # libjpeg-turbo through torchvision against Pillow: rounding
    assert torch.equal(on_device[0], on_cpu[0])  # the PNG: the same decoder


def test_a_corrupt_jpeg_decoded_on_the_device_is_named_or_skipped(tmp_path):
    folder = write_photos(tmp_path / "photos", 8)
    _truncated_jpeg(folder / "class1" / "0003.jpg")
    with pytest.raises(DataError, match="0003.jpg: cannot decode"):
        _device_and_cpu_decoded(folder, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _, skipped = _device_and_cpu_decoded(folder, "cpu", skip_bad=True)
    assert len(skipped) == 1 and "0003.jpg" in skipped[0] and out.shape == (8, 3, 24, 24)


def test_a_run_decodes_on_the_device_only_streamed_images(shards, tmp_path):
    pretrain(str(shards), "rotation", out=tmp_path / "run", stream=True, decode_on_device=True, max_steps=2,
             batch_size=16, progress=False)
    with pytest.raises(SsrlError, match="--decode-on-device"):
        pretrain(str(shards), "rotation", out=tmp_path / "memory", stream=False, decode_on_device=True,
                 max_steps=1, batch_size=16, progress=False)


@pytest.mark.gpu
def test_nvjpeg_decodes_as_the_cpu_does_to_rounding(tmp_path):
    folder = write_photos(tmp_path / "photos", 12)
    on_gpu, images, _ = _device_and_cpu_decoded(folder, "cuda")
    on_cpu, _, _ = _device_and_cpu_decoded(folder, "cpu")
    assert (on_gpu.float() - on_cpu.float()).abs().mean() < 2.0


def test_evaluate_names_an_unreadable_labeled_file_or_skips_it_with_skip_bad(tmp_path):
    folder = write_photos(tmp_path / "photos", 40)
    run = pretrain(str(folder), "rotation", out=tmp_path / "run", max_steps=1, batch_size=16, image_size=16,
                   progress=False)
    (folder / "class1" / "0007.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="0007.jpg"):
        evaluate(run, str(folder), "knn", save=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate(run, str(folder), "knn", save=False, skip_bad=True)
    assert result["n_train"] + result["n_test"] == 39  # the 40 files but the unreadable one
    assert any("skipped 1 unreadable image file(s)" in str(w.message) and "0007.jpg" in str(w.message) for w in caught)
    with pytest.raises(SsrlError, match="does not skip"):
        embed(run, str(folder), tmp_path / "f.npy", skip_bad=True)
