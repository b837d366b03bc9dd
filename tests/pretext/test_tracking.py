import torch
import torch.nn.functional as F

from ssrl.backbones import build_backbone
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.tracking import cut_patches, ranking_loss
from ssrl.views import ViewConfig, Views


def test_patches_are_cut_around_the_centre_and_kept_inside():
    frames = torch.arange(2 * 1 * 10 * 10, dtype=torch.float32).reshape(2, 1, 10, 10)
    p = cut_patches(frames, torch.tensor([[5.0, 4.0], [0.0, 9.0]]), 4)
    assert torch.equal(p[0], frames[0, :, 2:6, 3:7])                    # (x, y) = (5, 4): rows 2-5, cols 3-6
    assert torch.equal(p[1], frames[1, :, 6:10, 0:4])                   # moved inside at the corner


def test_ranking_loss_random_and_hard_negatives():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = a.clone()                                                       # D(a, p) = 0
    c = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    cos = F.normalize(a, dim=1) @ F.normalize(c, dim=1).T               # (3, 3)
    terms = (0.0 - (1 - cos) + 0.5).clamp(min=0)
    random = torch.stack([terms[i, (i + 1) % 3] for i in range(3)]).mean()
    torch.testing.assert_close(ranking_loss(a, p, c, 0.5, hard=None), random)
    hardest = torch.stack([max(terms[i, j] for j in range(3) if j != i) for i in range(3)]).mean()
    torch.testing.assert_close(ranking_loss(a, p, c, 0.5, hard=1), hardest)


def test_the_positive_is_the_tracked_patch_of_a_later_frame():
    torch.manual_seed(0)
    method = METHODS["tracking"](build_backbone("convnet-small", 1, 16, seed=0), method_config("tracking", {}),
                                 Views(ViewConfig.none()))
    t, side = 10, 32
    # a bright 6-px square moving 1 px right a frame on a dark noisy background
    x = torch.rand(3, t, 1, side, side, generator=torch.Generator().manual_seed(0)) * 0.1
    for f in range(t):
        x[:, f, :, 10:16, 8 + f:14 + f] = 1.0  # its corners stay where a 16-px patch fits around them
    videos = (x * 255).round().byte()
    method.on_train_epoch_start(0, videos, None)
    assert method.tracks.shape == (3, t, 2) and not method.mining
    inputs, z = method.pseudolabels(videos.float() / 255, torch.arange(3))
    anchor, positive, _ = inputs.chunk(3)
    assert z is None and anchor.shape == (3, 1, 16, 16)
    for a, p in zip(anchor, positive):  # both patches show the square, at the same place in the patch
        assert (a > 0.9).sum() >= 30 and torch.equal(a > 0.9, p > 0.9)
    method.on_train_epoch_start(1, videos, None)
    assert method.mining
