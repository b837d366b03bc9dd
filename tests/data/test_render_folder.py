"""A user's render folder: the documented layout reads back exactly (16-bit millimetre PNGs and
.npy depth, RGB-encoded normals, index ids), a batch resizes without blending ids, and a bad
folder fails naming the file and the problem."""

import numpy as np
import pytest
import torch
from PIL import Image

from ssrl.data.render_folder import RenderFolder
from ssrl.data.synthetic_scenes import instance_contours
from ssrl.errors import DataError
from tests.data.writers import write_png16

H, W = 6, 8


def _scene(folder, seed=0, depth="png", size=(H, W), grey=False):
    """A scene folder in the documented layout; returns its arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    h, w = size
    image = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
    Image.fromarray(image).save(folder / "rgb.png")
    millimetres = rng.integers(500, 9000, (h, w)).astype(np.uint16)
    millimetres[0, 0] = 0  # no depth here
    if depth == "png":
        write_png16(folder / "depth.png", millimetres)
    else:
        metres = millimetres / 1000.0
        metres[0, 0] = np.nan
        np.save(folder / "depth.npy", metres.astype(np.float32))
    normals = rng.normal(size=(h, w, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    encoded = np.round((normals + 1) * 127.5).astype(np.uint8)
    encoded[0, 1] = 0  # no normal here
    Image.fromarray(encoded).save(folder / "normals.png")
    ids = np.zeros((h, w), np.uint8)
    ids[:, w // 2:] = 3
    ids[h // 2:, :2] = 7
    Image.fromarray(ids).save(folder / "ids.png")
    return {"image": image, "depth": millimetres / 1000.0, "normals": encoded, "ids": ids}


def test_the_documented_layout_reads_back(tmp_path):
    a = _scene(tmp_path / "r" / "scene_a", 0, "png")
    b = _scene(tmp_path / "r" / "scene_b", 1, "npy")
    folder = RenderFolder(tmp_path / "r")
    assert len(folder) == 2 and folder.image.shape == (2, 3, H, W)
    for i, s in enumerate((a, b)):
        assert np.array_equal(folder.image[i].permute(1, 2, 0).numpy(), s["image"])
        np.testing.assert_allclose(folder.depth[i, 0].numpy(), s["depth"], rtol=1e-6)
        assert np.array_equal(folder.ids[i, 0].numpy(), s["ids"])
    batch = folder.sample(5, (H, W), 3, generator=torch.Generator().manual_seed(0))
    index = torch.randint(0, 2, (5,), generator=torch.Generator().manual_seed(0))
    for j, i in enumerate(index.tolist()):
        s = (a, b)[i]
        assert batch.valid[j, 0, 0, 0].item() is False and batch.valid[j, 0, 0, 1].item() is False
        assert batch.valid[j, 0].sum() == H * W - 2
        decoded = s["normals"] / 127.5 - 1
        decoded /= np.linalg.norm(decoded, axis=-1, keepdims=True)
        keep = batch.valid[j, 0].numpy()
        np.testing.assert_allclose(batch.normals[j].permute(1, 2, 0).numpy()[keep], decoded[keep], atol=1e-6)
        np.testing.assert_allclose(batch.depth[j, 0].numpy()[keep], s["depth"][keep], rtol=1e-6)
        torch.testing.assert_close(batch.image[j], torch.from_numpy(s["image"]).permute(2, 0, 1).float() / 255)
    assert torch.equal(batch.contours, instance_contours(batch.ids))


def test_a_batch_resizes_ids_without_blending_and_converts_channels(tmp_path):
    _scene(tmp_path / "r" / "one", 0, grey=True)
    folder = RenderFolder(tmp_path / "r")
    assert folder.image.shape == (1, 1, H, W)
    batch = folder.sample(2, (12, 16), 3)
    assert batch.image.shape == (2, 3, 12, 16) and torch.equal(batch.image[:, 0], batch.image[:, 1])
    assert set(batch.ids.unique().tolist()) <= {0, 3, 7}  # nearest: no id in between
    torch.testing.assert_close(batch.normals.norm(dim=1)[batch.valid[:, 0]], torch.ones(int(batch.valid.sum())))
    assert torch.equal(batch.contours, instance_contours(batch.ids))


def test_a_colour_folder_gives_grey_batches_for_grey_data(tmp_path):
    _scene(tmp_path / "r" / "one", 0)
    batch = RenderFolder(tmp_path / "r").sample(1, (H, W), 1)
    assert batch.image.shape == (1, 1, H, W)


def test_a_missing_depth_map_is_named(tmp_path):
    _scene(tmp_path / "r" / "s1", 0)
    _scene(tmp_path / "r" / "s2", 1)
    (tmp_path / "r" / "s2" / "depth.png").unlink()
    with pytest.raises(DataError, match=r"s2: no depth map \(depth.png or depth.npy\)"):
        RenderFolder(tmp_path / "r")


@pytest.mark.parametrize("missing, what", [("rgb.png", "image"), ("normals.png", "normal map"),
                                           ("ids.png", "instance id map")])
def test_each_missing_file_is_named(tmp_path, missing, what):
    _scene(tmp_path / "r" / "s1", 0)
    (tmp_path / "r" / "s1" / missing).unlink()
    with pytest.raises(DataError, match=f"s1: no {what}"):
        RenderFolder(tmp_path / "r")


def test_sizes_that_disagree_name_the_file(tmp_path):
    _scene(tmp_path / "r" / "s1", 0)
    write_png16(tmp_path / "r" / "s1" / "depth.png", np.ones((H + 1, W), np.uint16))
    with pytest.raises(DataError, match=rf"s1/depth.png is {W}×{H + 1} but rgb.png is {W}×{H}"):
        RenderFolder(tmp_path / "r")


def test_scenes_of_different_sizes_are_named(tmp_path):
    _scene(tmp_path / "r" / "a", 0)
    _scene(tmp_path / "r" / "b", 1, size=(H, W + 2))
    with pytest.raises(DataError, match=rf"r/b is {W + 2}×{H} but .*r/a is {W}×{H}: every scene has one size"):
        RenderFolder(tmp_path / "r")


def test_an_8_bit_depth_png_and_a_pickled_npy_are_refused(tmp_path):
    _scene(tmp_path / "r" / "s1", 0)
    Image.fromarray(np.ones((H, W), np.uint8)).save(tmp_path / "r" / "s1" / "depth.png")
    with pytest.raises(DataError, match=r"s1/depth.png: depth must be a 16-bit grey PNG in millimetres, got mode L"):
        RenderFolder(tmp_path / "r")
    _scene(tmp_path / "q" / "s1", 0, depth="npy")
    np.save(tmp_path / "q" / "s1" / "depth.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"s1/depth.npy: not a readable .npy array"):
        RenderFolder(tmp_path / "q")


def test_no_folder_or_no_scenes_is_said(tmp_path):
    with pytest.raises(DataError, match="not a folder of renders"):
        RenderFolder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no scene folders"):
        RenderFolder(tmp_path / "empty")


def test_a_scene_folder_leading_outside_the_root_is_refused(tmp_path):
    _scene(tmp_path / "elsewhere", 0)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "s1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="s1: leads outside"):
        RenderFolder(tmp_path / "r")
