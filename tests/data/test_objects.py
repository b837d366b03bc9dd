"""Data given as Python objects (``ssrl.data.objects``): arrays, tensors, ``(x, y)`` pairs,
torch Datasets, torchvision data set objects and Hugging Face Datasets, through ``pretrain`` →
``evaluate`` → ``embed``, with the file loaders' checks; lists of documents as text."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import ssrl
from ssrl.data.objects import hold, load_held
from ssrl.errors import DataError, SsrlError

QUICK = dict(max_steps=2, batch_size=16, progress=False)


def _squares(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 16, 16) uint8 images of 3 classes (a bright square whose place is the class), labels."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (n, 16, 16), dtype=np.uint8)
    y = np.arange(n) % 3
    for i, c in enumerate(y):
        x[i, 2 + 4 * c:6 + 4 * c, 4:10] = 250
    return x, y


class Squares(torch.utils.data.Dataset):
    """A user's own Dataset: (PIL image, label) items."""

    def __init__(self):
        self.x, self.y = _squares()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return Image.fromarray(self.x[i]), int(self.y[i])


def test_layouts_and_dtypes_of_arrays_and_tensors_give_the_same_images():
    x, y = _squares()
    as_uint8 = load_held(hold(x, y)).images
    assert as_uint8.shape == (96, 1, 16, 16)
    for same in (x[:, None], x[..., None], torch.from_numpy(x), torch.from_numpy(x).float() / 255):
        assert torch.equal(load_held(hold(same, y)).images, as_uint8)
    assert torch.equal(load_held(hold((x, y))).labels, torch.from_numpy(y))


def test_the_file_loaders_checks_name_the_object():
    x, _ = _squares()
    with pytest.raises(DataError, match="float images must lie in"):
        hold(torch.from_numpy(x).float())  # 0..255 as floats
    bad = x.astype(np.float32) / 255
    bad[5, 1, 1] = np.nan
    with pytest.raises(DataError, match="NaN value.*first in image 5"):
        hold(bad)
    with pytest.raises(DataError, match=r"ndarray \(96, 1, 16, 16\): labels must be 96 non-negative integers"):
        hold(x, np.arange(10))
    with pytest.raises(DataError, match="data of type int"):
        hold(3)


def test_a_spec_from_another_process_asks_for_the_object_again():
    with pytest.raises(DataError, match="pass the object itself again"):
        load_held("in-memory-ndarray-96x1x16x16-000000000000")


def test_dataset_items_of_several_sizes_and_channels_meet_at_the_most_common_size():
    items = [Image.new("L", (16, 16), 10), Image.new("RGB", (16, 16), (1, 2, 3)), Image.new("L", (20, 24), 30)]
    source = load_held(hold(items))
    assert source.images.shape == (3, 3, 16, 16) and source.labels is None


def test_an_array_pretrains_evaluates_and_embeds(tmp_path):
    x, y = _squares()
    run = ssrl.pretrain(x, "rotation", out=tmp_path / "run", **QUICK)
    result = ssrl.evaluate(run, (x, y), "knn")
    assert result["n_train"] + result["n_test"] == 96 and result["data"].startswith("in-memory-ndarray-96x1x16x16-")
    assert ssrl.evaluate(run, x, labels=y, protocol="linear", save=False)["n_test"] == result["n_test"]
    assert ssrl.embed(run, torch.from_numpy(x)).shape == (96, ssrl.load_backbone(run).dim)


def test_a_torch_dataset_and_a_torchvision_data_set_object(tmp_path):
    from torchvision.datasets import FakeData
    from torchvision.transforms import ToTensor

    run = ssrl.pretrain(Squares(), "rotation", out=tmp_path / "run", **QUICK)
    assert ssrl.evaluate(run, Squares(), "knn", save=False)["classes"] == 3
    fake = FakeData(size=64, image_size=(3, 16, 16), num_classes=4, transform=ToTensor(), random_offset=0)
    colour = ssrl.pretrain(fake, "rotation", out=tmp_path / "colour", **QUICK)
    assert ssrl.evaluate(colour, fake, "linear", save=False)["classes"] == 4
    assert ssrl.embed(colour, fake, limit=5).shape[0] == 5


def test_a_hugging_face_dataset(tmp_path):
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is in the [hf] and [test] extras")
    x, y = _squares()
    features = datasets.Features({"img": datasets.Image(), "kind": datasets.ClassLabel(names=["top", "mid", "low"])})
    hf = datasets.Dataset.from_dict({"img": [Image.fromarray(i) for i in x], "kind": y.tolist()}, features=features)
    with pytest.raises(DataError, match="no 'image' column"):
        hold(hf)
    run = ssrl.pretrain(hold(hf, image_column="img", label_column="kind"), "rotation", out=tmp_path / "run", **QUICK)
    result = ssrl.evaluate(run, hold(hf, image_column="img", label_column="kind"), "knn", save=False)
    assert result["classes"] == 3
    assert ssrl.embed(run, hold(hf, image_column="img")).shape[0] == 96


def test_a_run_made_from_an_object_is_refused_clearly_in_another_process(tmp_path):
    x, y = _squares()
    run = ssrl.pretrain(x, "rotation", out=tmp_path / "run", **QUICK)
    code = f"import ssrl; ssrl.evaluate({str(run)!r}, ssrl.runs.run_config({str(run)!r}).data, 'knn')"
    done = subprocess.run([sys.executable, "-c", "import ssrl.runs; " + code], capture_output=True, text=True)
    assert done.returncode != 0 and "pass the object itself again" in done.stderr
    with pytest.raises(SsrlError, match="cannot change the data"):
        ssrl.pretrain(x, out=tmp_path / "run", resume=True)


def _documents(n: int = 60) -> tuple[list[str], list[str]]:
    """n short documents of 3 topics, each drawn from its own words, and their topic names."""
    words = {"sea": "boat wave tide salt shore", "sky": "cloud star moon wind rain", "soil": "root seed clay worm leaf"}
    rng = np.random.default_rng(0)
    topics = [list(words)[i % 3] for i in range(n)]
    return [" ".join(rng.choice(words[t].split(), 6)) for t in topics], topics


def test_documents_pretrain_evaluate_and_embed(tmp_path):
    texts, topics = _documents()
    run = ssrl.pretrain(texts, "masked_lm", out=tmp_path / "run", max_steps=2, batch_size=16, progress=False)
    assert ssrl.runs.run_config(run).data.startswith("in-memory-text-60-")
    result = ssrl.evaluate(run, (texts, topics), "linear", save=False)  # labels under "label", found unasked
    assert result["classes"] == 3 and result["n_train"] + result["n_test"] == 60
    assert ssrl.embed(run, texts[:7]).shape == (7, ssrl.load_backbone(run).dim)


def test_a_hugging_face_text_dataset_and_bad_documents(tmp_path):
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is in the [hf] and [test] extras")
    texts, topics = _documents()
    names = ["sea", "sky", "soil"]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    hf = datasets.Dataset.from_dict({"text": texts, "label": [names.index(t) for t in topics]}, features=features)
    assert hold(hf) == hold((texts, topics))  # the class names, not their numbers, whichever way given
    with pytest.raises(DataError, match="list item 3: a document must be a string, got int"):
        hold(["a", "b", "c", 4])
    with pytest.raises(DataError, match="2 labels for 60 documents"):
        hold(texts, ["sea", "sky"])
    with pytest.raises(DataError, match="pass the object itself again"):
        ssrl.data.text.load_text("in-memory-text-60-000000000000")


def test_a_hugging_face_image_column_stays_encoded_until_read(tmp_path):
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is in the [hf] and [test] extras")
    from ssrl.data.encoded import EncodedImages

    x, y = _squares()
    hf = datasets.Dataset.from_dict({"image": [Image.fromarray(i) for i in x], "label": y.tolist()},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.Value("int64")}))
    spec = hold(hf)
    held = load_held(spec)
    assert isinstance(held.images, EncodedImages) and held.images.shape == (96, 1, 16, 16)
    assert torch.equal(held.images[torch.arange(96)], torch.from_numpy(x)[:, None])  # PNG: lossless
    assert torch.equal(held.labels, torch.from_numpy(y))
    assert load_held(spec, image_size=8).images[torch.arange(2)].shape == (2, 1, 8, 8)
    run = ssrl.pretrain(spec, "rotation", out=tmp_path / "run", stream=True, **QUICK)  # decoded while training
    assert ssrl.evaluate(run, spec, "knn", save=False)["classes"] == 3
    broken = datasets.Dataset.from_dict({"image": [{"bytes": b"not an image", "path": None}]},
                                        features=datasets.Features({"image": datasets.Image()}))
    with pytest.raises(DataError, match="Dataset item 0"):
        hold(broken)
