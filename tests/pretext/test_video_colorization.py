import math

import pytest
import torch
import torch.nn.functional as F

from ssrl.backbones import build_backbone
from ssrl.components.kmeans import nearest_centroid
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.lab import split_lab
from ssrl.pretext.video_colorization import colour_copy_loss
from ssrl.views import ViewConfig, Views


def _method(channels: int = 3):
    torch.manual_seed(0)
    return METHODS["video_colorization"](build_backbone("convnet-small", channels, 16, seed=0),
                                         method_config("video_colorization", {}), Views(ViewConfig.none()))


def _colour_videos(n: int = 4, t: int = 6) -> torch.Tensor:
    """(n, t, 3, 16, 16) uint8: four flat colour quadrants, the same in every frame."""
    colours = torch.tensor([[230, 20, 20], [20, 200, 30], [30, 40, 220], [240, 230, 40]], dtype=torch.uint8)
    frame = torch.zeros(3, 16, 16, dtype=torch.uint8)
    for q, (r, c) in enumerate([(0, 0), (0, 8), (8, 0), (8, 8)]):
        frame[:, r:r + 8, c:c + 8] = colours[q, :, None, None]
    return frame.expand(n, t, 3, 16, 16).clone()


def test_the_colour_quantiser_inverts_on_its_own_centroids():
    method = _method()
    method.on_train_epoch_start(0, _colour_videos(), None)
    centroids = method.centroids
    assert centroids.shape == (16, 2)
    assert torch.equal(nearest_centroid(centroids, centroids), torch.arange(16))
    # the four colours of the videos come back (through Lab and back to RGB) within rounding
    ab = split_lab(_colour_videos()[0, 0].float()[None] / 255)[1][0]   # (2, 16, 16)
    for r, c in [(0, 0), (0, 8), (8, 0), (8, 8)]:
        cell = ab[:, r, c]
        nearest = centroids[nearest_centroid(cell[None], centroids)][0]
        torch.testing.assert_close(nearest, cell, atol=1.0, rtol=0)


def test_copying_from_an_identical_reference_is_exact():
    # Target cell j's embedding matches reference cell j only (one-hot, low temperature):
    # attention copies exactly its colour, so the loss is ~0 and the accuracy 1.
    n, k = 6, 4
    ref = torch.eye(n)[None] * 20                                       # (1, M = n, D = n)
    target = torch.eye(n)[None] * 20
    colours = torch.tensor([[0, 1, 2, 3, 1, 0]])
    loss, accuracy = colour_copy_loss(ref, target, colours, colours, temperature=1.0, colours=k)
    assert loss.item() < 1e-6 and accuracy.item() == 1.0
    # Indistinct embeddings: every target gets the references' colour histogram.
    loss, _ = colour_copy_loss(torch.zeros(1, n, 3), torch.zeros(1, n, 3), colours, colours, 1.0, k)
    hist = F.one_hot(colours[0], k).float().mean(0)
    assert loss.item() == pytest.approx(-torch.log(hist[colours[0]]).mean().item(), rel=1e-5)


def test_inputs_are_grey_and_targets_are_the_frames_colour():
    method = _method()
    x = _colour_videos().float() / 255
    inputs, ab = method.pseudolabels(x)
    assert inputs.shape == (4, 4, 3, 16, 16) and ab.shape == (4, 4, 2, 16, 16)
    assert torch.allclose(inputs[:, :, 0], inputs[:, :, 1]) and torch.allclose(inputs[:, :, 1], inputs[:, :, 2])
    assert ab.abs().max() > 20  # the colour went to the target, not the input


def test_grey_videos_are_refused():
    with pytest.raises(SsrlError, match="colour"):
        _method(channels=1)


def test_the_copy_learns_on_coloured_videos():
    method = _method()
    videos = _colour_videos(n=4, t=6)
    method.on_train_epoch_start(0, videos, None)
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    inputs, z = method.pseudolabels(videos.float() / 255)
    for _ in range(40):
        loss, logs = method.loss(inputs, z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * math.log(4) and logs["pretext_acc"] > 0.9
