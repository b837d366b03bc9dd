import torch
from torch import nn

from ssrl.components.batch_norm import recompute_batch_norm


def test_running_statistics_become_those_of_the_given_images():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=0.1), nn.ReLU())
    net[1].running_mean.fill_(5.0)  # statistics of some other input (patches)
    net.eval()
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)

    assert recompute_batch_norm(net, images, batch_size=64) == 1

    conv_out = net[0](images.float() / 255)                    # (40, 4, 6, 6): the BN layer's input
    per_channel = conv_out.transpose(0, 1).reshape(4, -1)
    torch.testing.assert_close(net[1].running_mean, per_channel.mean(1))
    torch.testing.assert_close(net[1].running_var, per_channel.var(1, correction=1))
    assert not net.training and net[1].momentum == 0.1        # mode and momentum restored


def test_at_most_max_images_are_used_and_a_net_without_batch_norm_is_left_alone():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    calls = []
    net[0].register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    recompute_batch_norm(net, torch.zeros(100, 1, 4, 4, dtype=torch.uint8), max_images=30, batch_size=16)
    assert calls == [16, 14]
    assert recompute_batch_norm(nn.Sequential(nn.Conv2d(1, 2, 1)), torch.zeros(4, 1, 4, 4, dtype=torch.uint8)) == 0
