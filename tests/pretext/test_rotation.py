import json

import pytest
import torch
from PIL import Image

from ssrl.backbones import build_backbone
from ssrl.pretext.rotation import Rotation, RotationConfig
from ssrl.pretext.rotations import rotate_all
from ssrl.views import Views


def unrotate(inputs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Undo ``rotate_all``: rotate each row back by -z·90°."""
    return torch.stack([torch.rot90(img, -int(k), dims=(1, 2)) for img, k in zip(inputs, z)])


def test_rotate_all_layout_and_pseudolabels():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    inputs, z = rotate_all(x)
    assert inputs.shape == (8, 1, 3, 3)
    assert z.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    torch.testing.assert_close(inputs[:2], x)  # k = 0 is the image itself
    # Hand-checked 90° counter-clockwise rotation of the first image [[0,1,2],[3,4,5],[6,7,8]].
    assert inputs[2, 0].tolist() == [[2.0, 5.0, 8.0], [1.0, 4.0, 7.0], [0.0, 3.0, 6.0]]


def test_unrotating_recovers_every_image():
    x = torch.rand(5, 3, 7, 7)
    inputs, z = rotate_all(x)
    torch.testing.assert_close(unrotate(inputs, z), x.repeat(4, 1, 1, 1))


def test_rotations_are_distinct_so_the_task_is_learnable():
    x = torch.rand(1, 1, 6, 6)
    inputs, _ = rotate_all(x)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(inputs[i], inputs[j])


def test_non_square_images_are_refused():
    with pytest.raises(ValueError, match="square"):
        rotate_all(torch.rand(1, 1, 4, 6))


class TrueRotation(torch.nn.Module):
    """A head that always names the rotation ``predicted_rotations`` applied (i mod 4)."""

    def forward(self, h):
        return torch.nn.functional.one_hot(torch.arange(len(h)) % 4, 4).float()


def test_predicted_rotations_picture(tmp_path):
    method = Rotation(build_backbone("convnet-small", 1, 8, seed=0), RotationConfig(), Views(Rotation.default_views()))
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = method.predicted_rotations(x)  # an untrained head: whatever it predicts, the picture follows it
    torch.testing.assert_close(unrotate(out["rotated"], torch.arange(6) % 4), x)
    torch.testing.assert_close(out["turned_back"], torch.stack(
        [torch.rot90(img, -int(k), dims=(1, 2)) for img, k in zip(out["rotated"], out["predicted"])]))
    method.head = TrueRotation()
    out = method.predicted_rotations(x)
    torch.testing.assert_close(out["turned_back"], x)  # right predictions turn every image upright
    method.save_artifacts(tmp_path, (x * 255).round().byte())
    rows = json.loads((tmp_path / "rotations.json").read_text())["rows"]
    assert rows[1] == "turned back by the predicted rotation (6 of 6 right)" and len(rows) == 3
    assert Image.open(tmp_path / "rotations.png").size == (6 * 8 + 5 * 2, 3 * 8 + 2 * 2)
