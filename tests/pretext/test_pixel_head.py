"""The pixel tasks' shared plumbing: targets at 1/stride (``target_size``, ``block_means``) by
hand, ``PooledDecoder``'s output, ``save_reconstructions`` (eval mode while it draws, the mode
and batch-norm statistics as they were after, the first 8 images in [0, 1]), and the pixel
method files sharing through these modules, never importing one another."""

import ast
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import ssrl.pretext
from ssrl.data.source import to_unit
from ssrl.pretext import METHODS
from ssrl.pretext.pixel_head import PooledDecoder, block_means, resize, save_reconstructions, target_size

PIXEL_METHODS = ("colorization", "split_brain", "inpainting", "super_resolution")


def test_target_size_and_block_means_by_hand():
    assert target_size((16, 16), 2) == (8, 8) and target_size((5, 3), 2) == (2, 1) and target_size((1, 3), 4) == (1, 1)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert block_means(x, 2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert block_means(x, 4).flatten().tolist() == [7.5]
    assert block_means(x, 1) is x  # stride 1: the targets are the pixels themselves
    assert resize(torch.rand(2, 3, 4, 4), (7, 9)).shape == (2, 3, 7, 9)


@pytest.mark.parametrize("size", [12, 28, 40])
def test_pooled_decoder_draws_an_image_of_any_size(size):
    decoder = PooledDecoder(64, 3, width=32, stages=3)
    out = decoder(torch.randn(2, 64), (size, size))
    assert out.shape == (2, 3, size, size) and 0 <= out.min() and out.max() <= 1
    assert decoder.up(torch.randn(2, 64)).shape[-1] == 32  # 4 · 2³ before the resize


def test_save_reconstructions_draws_in_eval_mode_and_leaves_the_method_as_it_was(tmp_path):
    method = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Conv2d(4, 3, 1)).train()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    sample = torch.randint(0, 256, (12, 3, 6, 6), dtype=torch.uint8)
    seen = {}

    def rows(x):
        seen.update(training=method.training, x=x)
        return {"input": x, "output": method(x).sigmoid()}

    path = save_reconstructions(method, tmp_path, sample, rows)
    assert not seen["training"] and method.training
    assert torch.equal(seen["x"], to_unit(sample[:8]))  # the first 8 images, in [0, 1]
    assert all(torch.equal(v, before[k]) for k, v in method.state_dict().items())
    assert path == tmp_path / "reconstructions.png" and Image.open(path).size == (8 * 8 - 2, 2 * 8 - 2)
    assert json.loads(path.with_suffix(".json").read_text()) == {"rows": ["input", "output"]}


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_pixel_methods_import_no_other_method_file(name):
    source = Path(ssrl.pretext.__file__).parent / f"{name}.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            if node.module == "ssrl.pretext":
                imported |= {f"ssrl.pretext.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    siblings = {m for m in imported if m.startswith("ssrl.pretext.") and m.split(".")[2] in METHODS}
    assert not siblings, f"{name}.py imports the method file(s) {sorted(siblings)}"
