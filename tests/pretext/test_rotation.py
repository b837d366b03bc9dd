import pytest
import torch

from ssrl.pretext.rotations import rotate_all


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
