import math

import torch

from ssrl.backbones import build_backbone
from ssrl.pretext import METHODS, method_config
from ssrl.views import ViewConfig, Views


def _method(**params):
    torch.manual_seed(0)
    return METHODS["cycle_consistency"](build_backbone("convnet-small", 1, 16, seed=0),
                                        method_config("cycle_consistency", params), Views(ViewConfig.none()))


def test_frames_are_stride_apart_in_time_order():
    method = _method(frames=3, stride=2)
    t = 12
    x = (torch.arange(t) / t).view(1, t, 1, 1, 1).expand(4, t, 1, 16, 16).clone()  # frame i filled with i / T
    inputs, z = method.pseudolabels(x)
    shown = (inputs[:, :, 0, 0, 0] * t).round().long()                          # (B, K) frame numbers
    assert z is None and inputs.shape == (4, 3, 1, 16, 16)
    assert torch.all(shown[:, 1:] - shown[:, :-1] == 2)


def test_nodes_are_the_last_maps_positions_normalised():
    method = _method()
    q = method.nodes(torch.rand(2, 4, 1, 16, 16))
    assert q.shape == (2, 4, 16, 128)  # convnet-small's last map at 16 px: 4 × 4
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(2, 4, 16))


def test_the_walk_learns_to_return_on_a_moving_pattern():
    # A textured frame translated by one pixel a frame: after some steps the walk's loss falls
    # well below chance, (K-1)·log N.
    method = _method(frames=3, stride=1, edge_dropout=0.0)
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(4, 1, 1, 24, 24, generator=g)
    x = torch.cat([texture[:, :, :, :16, s:s + 16] for s in range(4)], dim=1)  # (4, 4, 1, 16, 16)
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    for _ in range(30):
        loss, logs = method.loss(*method.pseudolabels(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * 2 * math.log(16)
