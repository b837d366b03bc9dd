"""Cross-domain self-supervised multi-task feature learning from synthetic imagery. Ren & Lee,
2018, CVPR, arXiv:1711.09082.

D_s is the user's unlabeled real images (``--data REAL``); beside each batch of them comes an
equal batch of synthetic images whose geometry is known: rendered on the training device by the
built-in procedural renderer (``--param synthetic=procedural``, the default;
``ssrl.data.synthetic_scenes``), or drawn from a folder of renders the user brings
(``--param synthetic=PATH``; layout in ``ssrl.data.render_folder``). Grey data get grey renders.

P: (x, z) = ((synthetic images, real images), their depth, normals, instance contours). h_θ: any
backbone, run once over both halves. k_γ: a ``PixelDecoder`` on h_θ's last feature map (and its
full-resolution map, as a U-Net skip, with ``decoder_skip``) of the synthetic half, whose 5
output channels are the three tasks' maps — log depth (1), surface normals (3), contour logits
(1) — and a domain discriminator D on the last feature map of both halves (``ssrl.components.adversarial.feature_discriminator``). L =
λ_d L_d + λ_n L_n + λ_e L_e + λ_adv · (−log D(h_syn)) + L_D, with L_d the scale-invariant log
loss or L1, L_n 1 − cos, L_e HED's class-balanced cross-entropy (``ssrl.losses.dense``),
and L_D = −log D(h_real) − log(1 − D(h_syn)) D's own objective: D learns to tell real features
from synthetic ones, h_θ learns to make its synthetic features pass for real, so that what the
geometry tasks teach it carries over to the real domain.

The paper: an AlexNet base (conv1–conv5) and heads predicting normals, depth and contours at
reduced resolution; D on conv5 features; the base update fools D with the synthetic features
labelled real, D's update sees both domains' features; equal task weights (λ = 1 each) and 0.1
on the adversarial term (the authors' released configuration); 227 px crops of SUNCG renders and
of Places365 images; Adam for base and heads, SGD with an image pool for D; a head per task.

Departures. One optimizer, one simultaneous step for h_θ, the heads and D, D's term kept off the
base and the fooling term off D by where their gradients may go (``adversarial_terms``), instead
of alternating updates; D on detached real features (h_θ gets no gradient from D's own term) and
without the pool of past features. Both halves pass through h_θ as one batch, so batch norm sees
both domains; with ``adversarial`` false no loss reads the real half — with the paper's BN-free
AlexNet that is its no-adaptation ablation exactly; here the real images still shape batch norm's
statistics, as they do with D, so the two differ by the adversarial terms alone. The three tasks
share the decoder's layers up to its output convolution (a third of three decoders' cost on a
CPU; each task's own layers would be ``decoder_width``-wide copies). Depth by default
in log space with Eigen et al.'s λ = 0.5 (our renderer's units are arbitrary metres; a render
folder's are the user's); ``depth_loss=l1`` gives L1 on log depth. Scenes are simple rooms of
primitives textured with two photographs, not SUNCG interiors; ``textures=real`` textures them
with crops of the step's own real images instead (a renderer closer to D_s's pictures, not the
paper's), and ``scene=objects`` renders the primitives alone on black, without the room; the
defaults stay room and photos (BENCHMARKS.md has the comparison). AdamW lr 1e-3 per 256 images.

Figures: BENCHMARKS.md, "Issue 27: learning from synthetic imagery" (on B1 both this method and
its ablation stay under the random-init floors, the ablation less far; so does every variant of a
proxy sweep there: no skip, a larger λ_adv, a lower lr, ``textures=real``, ``scene=objects``;
read per layer, ``ssrl evaluate --layer 1`` or ``2``, both are over random init's same readout).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ssrl.components.adversarial import adversarial_terms, feature_discriminator
from ssrl.components.image_grid import save_image_rows
from ssrl.data.render_folder import RenderFolder
from ssrl.data.source import to_unit
from ssrl.data.synthetic_scenes import ProceduralScenes, SceneConfig, SyntheticBatch
from ssrl.errors import SsrlError
from ssrl.pretext.backbone_input import image_channels
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.losses.dense import DEPTH_LOSSES, balanced_contour_loss, cosine_normal_loss
from ssrl.pretext.pixel_head import PixelDecoder, eval_mode, feature_maps, full_resolution_channels
from ssrl.pretext.registry import register

TASKS = {"depth": 1, "normals": 3, "contours": 1}  # task → output channels of the decoder, in this order


@dataclass
class SyntheticMultitaskConfig:
    synthetic: str = "procedural"      # procedural (the built-in renderer) | PATH of a render folder
    depth_loss: str = "scale_invariant"  # scale_invariant (log depth, λ = 0.5) | l1 (on log depth)
    depth_weight: float = 1.0          # λ_d, as the authors' released configuration
    normal_weight: float = 1.0         # λ_n, ditto
    contour_weight: float = 1.0        # λ_e, ditto
    adversarial: bool = True           # the domain discriminator; false: the paper's ablation without it
    adv_weight: float = 0.1            # λ_adv of h_θ's fooling term, as the authors' released configuration
    decoder_width: int = 32            # channels of the decoder the three tasks share
    decoder_skip: bool = True          # heads also read h_θ's full-resolution map (a U-Net skip; none for ViTs)
    disc_width: int = 64               # channels of D's convolutions
    scene: str = "room"                # room (the paper's indoor scenes) | objects (the primitives alone on black)
    textures: str = "photos"           # the renderer's textures: photos (sklearn's two) | real (crops of the batch's real images)


def predictions_to_picture(depth: torch.Tensor, normals: torch.Tensor, contours: torch.Tensor,
                           valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Maps as pictures in [0, 1]: log depth min–max scaled per image (near dark), normals as
    (n + 1) / 2 in RGB, contours as they are (probabilities or 0/1)."""
    valid = torch.ones_like(depth, dtype=torch.bool) if valid is None else valid
    inf = torch.tensor(float("inf"), device=depth.device)
    low = torch.where(valid, depth, inf).amin((1, 2, 3), keepdim=True)
    high = torch.where(valid, depth, -inf).amax((1, 2, 3), keepdim=True)
    shown = ((depth - low) / (high - low).clamp_min(1e-6)).clamp(0, 1) * valid
    unit = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-6)
    return {"depth": shown, "normals": (unit + 1) / 2 * valid, "contours": contours}


@register("synthetic_multitask", family="multi-task synthetic imagery", modality="image",
          paper="Ren & Lee 2018, Cross-Domain Self-supervised Multi-task Feature Learning using Synthetic Imagery")
class SyntheticMultitask(Pretext):
    Config = SyntheticMultitaskConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    gain_at_layers = (1, 2)  # B1, 3 seeds: over random init at maps 1 and 2, under it pooled (BENCHMARKS.md, issue 27)

    def __init__(self, backbone: nn.Module, cfg: SyntheticMultitaskConfig, views: nn.Module):
        if cfg.depth_loss not in DEPTH_LOSSES:
            raise SsrlError(f"{self.name}: unknown depth_loss {cfg.depth_loss!r}; choose one of: {', '.join(DEPTH_LOSSES)}")
        if cfg.textures not in ("photos", "real"):
            raise SsrlError(f"{self.name}: unknown textures {cfg.textures!r}; choose one of: photos, real")
        if cfg.scene not in ("room", "objects"):
            raise SsrlError(f"{self.name}: unknown scene {cfg.scene!r}; choose one of: room, objects")
        if cfg.textures == "real" and cfg.synthetic != "procedural":
            raise SsrlError(f"{self.name}: textures=real textures the built-in renderer's scenes; a render folder brings its own")
        super().__init__(backbone, cfg, views)
        self.source = ProceduralScenes(SceneConfig(room=cfg.scene == "room")) if cfg.synthetic == "procedural" else RenderFolder(cfg.synthetic)
        channels = image_channels(backbone, self.name)
        skip = full_resolution_channels(backbone, channels) if cfg.decoder_skip else 0
        heads = {"decoder": PixelDecoder(backbone.dim, sum(TASKS.values()), cfg.decoder_width, skip)}
        if cfg.adversarial:
            heads["discriminator"] = feature_discriminator(backbone.dim, cfg.disc_width)
        self.head = nn.ModuleDict(heads)                 # k_γ

    def synthetic(self, like: torch.Tensor, generator: torch.Generator | None = None) -> SyntheticBatch:
        """A synthetic batch the size, shape and device of real images ``like`` (B, C, H, W), textured
        with crops of ``like`` itself under ``textures=real``."""
        extra = {"textures": like} if self.cfg.textures == "real" else {}
        return self.source.sample(len(like), like.shape[-2:], like.shape[1], device=like.device, generator=generator, **extra)

    def pseudolabels(self, x, index=None):              # P
        real = self.views(x)
        syn = self.synthetic(real)
        return (syn.image, real), syn

    def predict(self, x: torch.Tensor, heads: int | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The heads' maps (log depth, normals, contour logits) of the first ``heads`` images of x
        (all if None), and h_θ's last feature map of all of them."""
        last, full = feature_maps(self.backbone, x, full_resolution=self.head["decoder"].skip_dim > 0)
        n = len(x) if heads is None else heads
        out = self.head["decoder"](last[:n], x.shape[-2:], None if full is None else full[:n])
        return dict(zip(TASKS, out.split(list(TASKS.values()), dim=1))), last

    def loss(self, inputs, z):                          # L
        syn, real = inputs
        n, cfg = len(syn), self.cfg
        maps, last = self.predict(torch.cat([syn, real]), heads=n)   # one batch: batch norm sees both domains
        depth = DEPTH_LOSSES[cfg.depth_loss](maps["depth"], z.depth, z.valid)
        normals = cosine_normal_loss(maps["normals"], z.normals, z.valid)
        contours = balanced_contour_loss(maps["contours"], z.contours)
        loss = cfg.depth_weight * depth + cfg.normal_weight * normals + cfg.contour_weight * contours
        logs = {"depth_loss": depth.detach(), "normal_loss": normals.detach(), "contour_loss": contours.detach()}
        if cfg.adversarial:
            fool, disc = adversarial_terms(self.head["discriminator"], last[n:].detach(), last[:n])
            loss = loss + cfg.adv_weight * fool + disc.float()
            logs |= {"adv_gen": fool.detach(), "adv_disc": disc.detach()}
        return loss, logs

    @torch.no_grad()
    def picture_rows(self, real: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The rows of ``predictions.png`` for real images (B, C, H, W) in [0, 1] and as many synthetic ones."""
        syn = self.synthetic(real, generator)
        with eval_mode(self):
            on_syn, on_real = self.predict(syn.image)[0], self.predict(real)[0]
        truth = predictions_to_picture(syn.depth.log(), syn.normals, syn.contours, syn.valid)
        pred = predictions_to_picture(on_syn["depth"], on_syn["normals"], on_syn["contours"].sigmoid())
        rows = {"synthetic input": syn.image}
        for task in TASKS:
            rows |= {f"true {task}": truth[task], f"predicted {task}": pred[task]}
        real_pred = predictions_to_picture(on_real["depth"], on_real["normals"], on_real["contours"].sigmoid())
        return rows | {"real input": real} | {f"{task} on real": real_pred[task] for task in TASKS}

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``predictions.png``: 8 synthetic inputs (a fixed draw), their true and predicted depth,
        normals and contours, then the first 8 real images of D_s and the heads' maps of them."""
        device = next(self.parameters()).device
        real = to_unit(sample[:8]).to(device)
        save_image_rows(Path(run_dir) / "predictions.png", self.picture_rows(real, torch.Generator().manual_seed(0)))


__all__ = ["SyntheticMultitask", "SyntheticMultitaskConfig", "predictions_to_picture"]
