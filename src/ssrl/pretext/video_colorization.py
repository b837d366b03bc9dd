"""Video colorization: tracking emerges by colorizing videos. Vondrick, Shrivastava, Fathi,
Guadarrama & Murphy, 2018 (ECCV), arXiv:1806.09594.

P: from each colour video, ``references`` + 1 consecutive frames ``stride`` apart (a random
window); every frame is shown in grey (its Lab lightness as an sRGB grey, ``grey_rgb``), and its
colour, the Lab ab averaged over the cells of h_θ's last feature map, is quantised to the nearest
of ``colours`` k-means centroids of ab (counted once on D_s, ``on_train_epoch_start``): z, one
colour index per cell and frame. k_γ: a 1×1 convolution of h_θ's last feature map to
``embed_dim``. L: the last frame is the target, the others the references; each target cell j
copies colour from the reference cells i with attention A_ij = softmax_i(f_i · f_j / T), so its
predicted colour distribution is Σ_i A_ij onehot(c_i); the loss is its cross-entropy with the
target cell's own colour c_j. The only way to predict a colour is to point at where it was: h_θ
learns to track.

Grey videos are refused (there is no colour to copy). Like ``colorization``, h_θ keeps its 3
input channels, tied at the start, so it reads an RGB frame as its grey.

Departures: the paper's frames are 256 px with a 3-D-conv head over a ResNet-18's 32×32 map and
a 64-d embedding; here the backbone's own last map (8×8 for ``convnet-small`` at 32 px) and a
1×1 head. T = 1 in training (the paper's); ab averaged per cell before quantising, where the
paper quantises each pixel of a downsampled frame. AdamW at lr 1e-3 per 256 clips.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.maps import features_and_maps, map_channels
from ssrl.components.kmeans import kmeans, nearest_centroid
from ssrl.pretext.backbone_input import input_channels, tie_input_channels
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import check_frames, gather_frames, random_starts
from ssrl.pretext.lab import grey_rgb, require_colour, split_lab
from ssrl.pretext.registry import register
from ssrl.precision import in_float32

SAMPLED_PIXELS = 200_000  # ab values the colour k-means sees
EPS = 1e-8


@dataclass
class VideoColorizationConfig:
    colours: int = 16          # k-means clusters of ab (the paper's 16)
    references: int = 3        # reference frames before the target (the paper's 3)
    stride: int = 1            # frames between consecutive shown frames
    temperature: float = 1.0   # T of the attention (the paper trains at 1)
    embed_dim: int = 64        # the paper's 64


@in_float32  # the attention's softmax and the copied distribution in float32
def colour_copy_loss(ref: torch.Tensor, target: torch.Tensor, ref_colours: torch.Tensor, target_colours: torch.Tensor,
                     temperature: float, colours: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, accuracy) of copying colours by attention.

    Args:
        ref: (B, M, D) reference cells' embeddings; target: (B, N, D) target cells'.
        ref_colours: (B, M) colour indices of the reference cells; target_colours: (B, N).
    """
    attention = F.softmax(target @ ref.transpose(1, 2) / temperature, dim=-1)  # (B, N, M): over references
    predicted = attention @ F.one_hot(ref_colours, colours).to(attention.dtype)  # (B, N, K)
    loss = F.nll_loss(torch.log(predicted + EPS).flatten(0, 1), target_colours.flatten())
    return loss, (predicted.argmax(-1) == target_colours).float().mean()


@register("video_colorization", family="correspondence (video)", modality="video",
          paper="Vondrick et al. 2018, Tracking Emerges by Colorizing Videos")
class VideoColorization(Pretext):
    Config = VideoColorizationConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-4)
    backbone_kinds = ("cnn",)
    needs_maps = True
    needs_channels = 3  # colour is what is copied

    @classmethod
    def wrap_backbone(cls, backbone: nn.Module) -> nn.Module:
        return tie_input_channels(backbone)

    def __init__(self, backbone: nn.Module, cfg: VideoColorizationConfig, views: nn.Module):
        require_colour(input_channels(backbone), self.name)
        super().__init__(self.wrap_backbone(backbone), cfg, views)
        self.head = nn.Conv2d(map_channels(backbone)[-1], cfg.embed_dim, 1)  # k_γ
        self.register_buffer("centroids", torch.zeros(cfg.colours, 2), persistent=False)
        self.counted = False

    def on_train_epoch_start(self, epoch, images, labels):
        require_colour(images.shape[2], self.name)
        if not self.counted:  # once a process; k-means is seeded, so a resumed run counts the same
            g = torch.Generator().manual_seed(0)
            frames = images.flatten(0, 1)                                   # (N·T, 3, H, W)
            pick = torch.randint(0, len(frames), (min(len(frames), 2048),), generator=g)
            ab = split_lab(frames[pick].float() / 255)[1].permute(0, 2, 3, 1).reshape(-1, 2)
            ab = ab[torch.randint(0, len(ab), (min(len(ab), SAMPLED_PIXELS),), generator=g)]
            self.centroids.copy_(kmeans(ab, self.cfg.colours, seed=0)[0].to(self.centroids.device))
            self.counted = True
        return None

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        require_colour(x.shape[2], self.name)
        frames = cfg.references + 1
        span = (frames - 1) * cfg.stride + 1
        check_frames(x, span, self.name)
        shown = random_starts(len(x), x.shape[1], span, x.device)[:, None] + torch.arange(frames, device=x.device) * cfg.stride
        clips = gather_frames(x, shown)                                     # (B, K, 3, H, W)
        lightness, ab = split_lab(clips.flatten(0, 1))
        return grey_rgb(lightness).unflatten(0, clips.shape[:2]), ab.unflatten(0, clips.shape[:2])

    def loss(self, inputs, z):                                                       # L
        b, k = inputs.shape[:2]
        _, maps = features_and_maps(self.backbone, inputs.flatten(0, 1))
        f = self.head(maps[-1])                                             # (B·K, D, h, w)
        cells = F.adaptive_avg_pool2d(z.flatten(0, 1), f.shape[-2:])      # (B·K, 2, h, w): ab per cell
        c = nearest_centroid(cells.permute(0, 2, 3, 1).reshape(-1, 2).float(), self.centroids)
        c = c.view(b, k, -1)                                                # (B, K, h·w)
        f = f.flatten(2).transpose(1, 2).unflatten(0, (b, k))              # (B, K, h·w, D)
        loss, accuracy = colour_copy_loss(f[:, :-1].flatten(1, 2), f[:, -1], c[:, :-1].flatten(1), c[:, -1],
                                          self.cfg.temperature, self.cfg.colours)
        return loss, {"pretext_acc": accuracy}
