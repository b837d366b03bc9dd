"""Vision Transformer backbones (ViT). Dosovitskiy et al., 2021, arXiv:2010.11929.

The image is cut into p×p patches, each linearly embedded (a p×p conv of stride p), a learned
[CLS] token is prepended, learned position embeddings are added, and pre-norm Transformer
blocks (LayerNorm → multi-head self-attention, LayerNorm → GELU MLP of 4× width, each in a
residual branch) run over the sequence; the features are the final LayerNorm of the CLS token.
Weights start from a normal of std 0.02 truncated at two standard deviations, DeiT's init
(Touvron et al., 2021, arXiv:2012.12877; the paper uses it for the position embeddings).
There is no dropout or stochastic depth, as in MAE's and MoCo v3's pretraining (DINO adds
stochastic depth 0.1 to its student; left out here to keep the module small).

Patch size, from the ``image_size`` the backbone is built for (``patch_size_for``): the
paper's 16 px from 128 px up (224 px → 14×14 patches), 8 px from 64 px, 4 px below (28 px →
7×7, 32 px → 8×8). From 28 to 255 px the grid side thus stays between 7 and 15: 16-px
patches would leave a 2×2 grid of a 32-px image, and 4-px patches a 56×56 grid at 224 px.

Inputs of another size (multi-crop's small crops) work as long as each side is a multiple of
the patch size: the patch position embeddings are resized bicubically to the new grid, as
DINO does (Caron et al., 2021, arXiv:2104.14294). ``tokens(x, keep)`` runs the encoder on a
subset of the patches, the MAE encoder's input (He et al., 2022, arXiv:2111.06377).
"""

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.registry import register_backbone

SIZES = {  # name: (dim, depth, heads)
    "vit-mini": (128, 4, 4),     # ours: a ViT that trains on a CPU (B1 runs, tests)
    "vit-tiny": (192, 12, 3),    # DeiT-Ti
    "vit-small": (384, 12, 6),   # DeiT-S
}


def patch_size_for(image_size: int) -> int:
    """The patch side for images of ``image_size`` px (see the module docstring)."""
    return 16 if image_size >= 128 else 8 if image_size >= 64 else 4


def _trunc_normal(t: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    # Truncated at ±2σ; DeiT's timm call truncates at ±2 absolute, which at σ = 0.02 cuts nothing.
    return nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


class Attention(nn.Module):
    """Multi-head self-attention: softmax(QKᵀ/√d + mask)V per head, through PyTorch's fused kernel
    (shared by the ViT and the text Transformer)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, dim); allowed: None (all pairs) or (B, 1, N, N) bool, True where query n may attend to key m."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 × (B, h, N, d/h)
        y = attention(q, k, v, allowed)  # (B, h, N, d/h)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """``F.scaled_dot_product_attention``, in float32 where q is bfloat16 on a CPU (bf16 autocast):
    PyTorch's CPU kernel for bfloat16 is several times slower than its float32 one, backward above
    all (BENCHMARKS.md, issue 21), and the softmax keeps float32's precision. The result has q's dtype."""
    if q.device.type == "cpu" and q.dtype == torch.bfloat16:
        with torch.autocast("cpu", enabled=False):  # autocast would cast it back to bfloat16
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=allowed).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


class Block(nn.Module):
    """Pre-norm Transformer block (the paper's eq. 2–3)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)  # eps as the paper's JAX code
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """ViT encoder mapping (B, C, H, W) to the final CLS token (B, dim)."""

    kind = "ViT"

    def __init__(self, in_channels: int, image_size: int, dim: int, depth: int, heads: int):
        super().__init__()
        self.dim, self.image_size, self.patch_size = dim, image_size, patch_size_for(image_size)
        self.grid = self._grid(image_size, image_size)[0]  # patches per side at image_size
        self.patch_embed = nn.Conv2d(in_channels, dim, self.patch_size, stride=self.patch_size)
        self.cls_token = nn.Parameter(_trunc_normal(torch.empty(1, 1, dim)))
        self.pos_embed = nn.Parameter(_trunc_normal(torch.empty(1, 1 + self.grid**2, dim)))  # CLS first
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        for m in self.modules():  # the conv keeps PyTorch's default init, as in DeiT
            if isinstance(m, nn.Linear):
                _trunc_normal(m.weight)
                nn.init.zeros_(m.bias)

    def _grid(self, h: int, w: int) -> tuple[int, int]:
        p = self.patch_size
        if h % p or w % p or h < p or w < p:
            raise ValueError(f"ViT input of {h}×{w} px: each side must be a positive multiple of the "
                             f"{p}-px patch size (the backbone was built for {self.image_size} px)")
        return h // p, w // p

    def num_patches(self, image_size: int) -> int:
        """Patches in a square image of ``image_size`` px (the ``tokens`` sequence, less CLS)."""
        gh, gw = self._grid(image_size, image_size)
        return gh * gw

    def patch_pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        """Position embeddings of a gh×gw patch grid (1, gh·gw, dim), row-major, resized if needed."""
        pos = self.pos_embed[:, 1:]
        if (gh, gw) == (self.grid, self.grid):
            return pos
        pos = pos.reshape(1, self.grid, self.grid, self.dim).permute(0, 3, 1, 2)  # (1, dim, g, g)
        pos = F.interpolate(pos, size=(gh, gw), mode="bicubic", align_corners=False)
        return pos.flatten(2).transpose(1, 2)

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """The normalized token sequence after the blocks: (B, 1 + n, dim), CLS first.

        Args:
            x: images (B, C, H, W), H and W multiples of ``patch_size``.
            keep: optional (B, k) integer indices into the (H/p)·(W/p) patches, row-major; only
                these patches (each with its own position embedding) and CLS enter the encoder,
                so n = k and token 1 + j is patch ``keep[:, j]``. Without it n is every patch.
        """
        t = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, n, dim)
        t = t + self.patch_pos_embed(*self._grid(*x.shape[-2:]))
        if keep is not None:
            if keep.dim() != 2 or len(keep) != len(x):
                raise ValueError(f"keep must be (B, k) = ({len(x)}, k) patch indices, got shape {tuple(keep.shape)}")
            t = t.gather(1, keep.unsqueeze(-1).expand(-1, -1, self.dim))  # (B, k, dim)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(t.shape[0], -1, -1)  # (B, 1, dim); a symbolic B for torch.export
        t = torch.cat([cls, t], dim=1)
        for block in self.blocks:
            t = block(t)
        return self.norm(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x)[:, 0]  # (B, dim)


for _name, (_dim, _depth, _heads) in SIZES.items():
    register_backbone(_name)(
        lambda in_channels, image_size, d=_dim, n=_depth, h=_heads: ViT(in_channels, image_size, d, n, h))
