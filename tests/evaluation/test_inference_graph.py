"""The inference rewrites leave a backbone's output unchanged, to the bit."""

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from ssrl.backbones.convnet import ConvNet
from ssrl.evaluation.inference_graph import fast_pooling, max_pool_2x2


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 7, 9), (1, 1, 2, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool_2x2_equals_aten_max_pool(shape, channels_last):
    x = torch.randn(shape)
    x.view(-1)[::5] = float("nan")  # both propagate NaN
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = max_pool_2x2(x)
    torch.testing.assert_close(out, F.max_pool2d(x, 2), rtol=0, atol=0, equal_nan=True)
    if channels_last:
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_a_side_under_two_raises_as_aten_does():
    with pytest.raises(RuntimeError):
        max_pool_2x2(torch.randn(1, 2, 3, 1))


def test_convnet_features_are_unchanged_and_no_max_pool_module_is_left():
    torch.manual_seed(0)
    net = ConvNet(1).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = net(x)
        gm = fast_pooling(fx.symbolic_trace(net))
        assert torch.equal(gm(x), expected)
    assert not any(isinstance(m, nn.MaxPool2d) for m in gm.modules())
    order = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert order.count(max_pool_2x2) == 2


def test_the_relu_moves_after_the_pool_only_where_the_pool_alone_reads_it():
    relu = nn.ReLU()

    class TwoReaders(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu, self.pool = relu, nn.MaxPool2d(2)

        def forward(self, x):
            y = self.relu(x)
            return self.pool(y).sum() + y.sum()

    gm = fast_pooling(fx.symbolic_trace(TwoReaders()))
    nodes = [n for n in gm.graph.nodes if n.op in ("call_module", "call_function")]
    pool = next(n for n in nodes if n.target is max_pool_2x2)
    assert pool.args[0].target == "relu"  # the ReLU has another reader: it stays before the pool
    single = fast_pooling(fx.symbolic_trace(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))))
    ops = [n.target for n in single.graph.nodes if n.op in ("call_module", "call_function")]
    assert ops == ["0", max_pool_2x2, "1"]


@pytest.mark.parametrize("pool", [nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(2, stride=1)])
def test_other_max_pools_are_left_alone(pool):
    gm = fast_pooling(fx.symbolic_trace(nn.Sequential(nn.ReLU(), pool)))
    assert any(isinstance(m, nn.MaxPool2d) for m in gm.modules())
    x = torch.randn(1, 2, 7, 7)
    assert torch.equal(gm(x), nn.Sequential(nn.ReLU(), pool)(x))
