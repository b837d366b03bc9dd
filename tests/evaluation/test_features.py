"""Feature extraction: inference mode, the run's autocast and memory format, batch norm folded,
the caller's backbone left as it was."""

from typing import ClassVar

import pytest
import torch
from torch import nn

from ssrl.api import extraction
from ssrl.config import RunConfig
from ssrl.evaluation.features import Extraction, default_batch_size, extract_features, for_inference
from ssrl.evaluation.linear import linear_probe_predict
from tests.evaluation.tiny import TinyConvNet, quadrant_images

BF16 = Extraction(precision="bf16-mixed", channels_last=True)


def _trained_convnet() -> TinyConvNet:
    """A TinyConvNet whose batch norm has statistics and an affine map of its own."""
    torch.manual_seed(0)
    net = TinyConvNet()
    with torch.no_grad():
        bn = net.net[1]
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.2, 0.2)
    return net


class Recorder(nn.Module):
    """h_θ that records the modes its forward ran under (in a class attribute: extraction runs a copy)."""

    dim = 4
    seen: ClassVar[list] = []

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        Recorder.seen.append((torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu"),
                              x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()))
        return self.conv(x).mean((2, 3))


class Untraceable(TinyConvNet):
    """Batch norm, and control flow on the input, which torch.fx cannot trace."""

    def forward(self, x):
        return self.net(x) if x.sum() > 0 else -self.net(x)


def test_features_are_computed_in_inference_mode_and_come_back_ordinary():
    x, y = quadrant_images(4, 0)
    f = extract_features(_trained_convnet(), x, batch_size=8, device="cpu")
    assert f.dtype == torch.float32 and not f.requires_grad and not f.is_inference()
    linear_probe_predict(f, y, f, 4, epochs=1)  # usable in autograd: the probe trains on it


def test_the_copy_runs_under_inference_mode_the_runs_autocast_and_memory_format():
    Recorder.seen.clear()
    x = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    extract_features(Recorder(), x, device="cpu")
    extract_features(Recorder(), x, device="cpu", how=BF16)
    assert Recorder.seen == [(True, False, False), (True, True, True)]


def test_batch_norm_is_folded_into_the_convolution_of_the_copy():
    copy = for_inference(_trained_convnet().train(), torch.device("cpu"))
    assert not copy.training and not any(isinstance(m, nn.BatchNorm2d) for m in copy.modules())


def test_the_callers_backbone_is_left_as_it_was():
    net = _trained_convnet().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    extract_features(net, quadrant_images(4, 0)[0], device="cpu", how=BF16)
    assert net.training and isinstance(net.net[1], nn.BatchNorm2d)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN statistics untouched
    assert net.net[0].weight.is_contiguous()  # not turned channels_last


@pytest.mark.parametrize("channels_last", [False, True])
def test_folded_batch_norm_gives_the_eval_mode_features(channels_last):
    net = _trained_convnet()
    x, _ = quadrant_images(8, 1)
    with torch.no_grad():
        expected = net.eval()(x.float() / 255)
    f = extract_features(net, x, batch_size=5, device="cpu", how=Extraction(channels_last=channels_last))
    torch.testing.assert_close(f, expected, rtol=1e-5, atol=1e-5)


def test_a_backbone_with_hooks_extracts_itself_and_gets_its_mode_back():
    net = _trained_convnet().train()
    taps = []
    net.net[2].register_forward_hook(lambda module, args, out: taps.append(len(out)))
    x, _ = quadrant_images(4, 0)
    f = extract_features(net, x, batch_size=10, device="cpu")
    assert taps == [10, 6] and net.training
    assert for_inference(net, torch.device("cpu")) is net
    with torch.no_grad():
        torch.testing.assert_close(f, net.eval()(x.float() / 255))


def test_an_untraceable_backbone_is_extracted_unfolded():
    torch.manual_seed(0)
    net = Untraceable()
    assert any(isinstance(m, nn.BatchNorm2d) for m in for_inference(net, torch.device("cpu")).modules())
    x, _ = quadrant_images(4, 0)
    with torch.no_grad():
        expected = net.eval()(x.float() / 255)
    torch.testing.assert_close(extract_features(net, x, device="cpu"), expected)


def test_bf16_features_are_float32_and_close_to_float32_ones():
    net = _trained_convnet()
    x, _ = quadrant_images(8, 2)
    fp32 = extract_features(net, x, device="cpu")
    bf16 = extract_features(net, x, device="cpu", how=BF16)
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)  # autocast did run in bfloat16
    torch.testing.assert_close(bf16, fp32, rtol=0.03, atol=0.03 * fp32.abs().max().item())


def test_default_cpu_batches_hold_about_two_million_pixels_of_images():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_batch_size(torch.zeros(1, 1, 32, 32, dtype=torch.uint8), cpu) == 2048
    assert default_batch_size(torch.zeros(1, 16, 1, 32, 32, dtype=torch.uint8), cpu) == 128  # videos: every frame
    assert default_batch_size(torch.zeros(1, 3, 224, 224, dtype=torch.uint8), cpu) == 41
    assert default_batch_size(torch.zeros(1, 3, 224, 224, dtype=torch.uint8), cuda) == 512
    assert default_batch_size(torch.zeros(1, 64, dtype=torch.long), cpu) == 512


def test_a_run_extracts_under_its_precision_and_memory_format():
    assert extraction(RunConfig(data="d", modality="image", precision="bf16-mixed", channels_last=True)) == BF16
    old = RunConfig(data="d", modality="image", precision="32-true")  # channels_last not saved: the modality's
    assert extraction(old) == Extraction(precision="32-true", channels_last=True)
    assert extraction(RunConfig(data="d", modality="text", channels_last=None)).channels_last is False
