import json

import numpy as np
import pytest
import torch
from PIL import Image

from ssrl.components.image_grid import save_image_rows


def test_rows_are_written_in_order_with_the_images_in_place(tmp_path):
    gray = torch.zeros(3, 1, 4, 5)
    gray[1] = 1.0
    colour = torch.zeros(3, 3, 4, 5)
    colour[:, 0] = 1.0  # red
    path = save_image_rows(tmp_path / "r" / "grid.png", {"input": gray, "truth": colour})
    img = np.asarray(Image.open(path))
    assert img.shape == (2 * 4 + 2, 3 * 5 + 2 * 2, 3)
    assert (img[:4, :5] == 0).all() and (img[:4, 7:12] == 255).all()  # black, then white
    assert (img[6:, :5, 0] == 255).all() and (img[6:, :5, 1:] == 0).all()  # red second row
    assert json.loads(path.with_suffix(".json").read_text()) == {"rows": ["input", "truth"]}  # for the report


def test_mismatched_shapes_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="one H, W"):
        save_image_rows(tmp_path / "g.png", {"a": torch.zeros(1, 1, 4, 4), "b": torch.zeros(1, 1, 5, 5)})
