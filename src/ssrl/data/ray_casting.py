"""Ray casting of planes, spheres, boxes and cylinders, batched over scenes, primitives and pixels.

Everything is in the camera frame (x right, y down, z forward; the pinhole at the origin). A
pixel's ray is ``t · d`` with d = ((u − W/2) / f, (v − H/2) / f, 1) through its centre (u, v), so
the ray parameter t at a hit *is* the hit's depth z (the planar depth that depth sensors and
renderers write). Each primitive has a centre c, a rotation R whose columns are its local axes,
and a size s (3 numbers, ``Kind`` says what they mean); a point's local coordinates are
Rᵀ(p − c). Misses are +inf, so the nearest hit over all primitives is a ``min``.

``PLANE``: the plane through c whose normal is R's second column (local y), facing the camera;
``SPHERE``: radius s₀; ``BOX``: half extents s; ``CYLINDER``: radius s₀ about local y, half
height s₁, capped. The closed forms are the textbook ones: a quadratic for spheres and the
cylinder's side, slabs for boxes, one division for planes and caps.
"""

import math

import torch

PLANE, SPHERE, BOX, CYLINDER = 0, 1, 2, 3
EPS = 1e-6  # hits nearer than this are behind or at the pinhole


def pixel_rays(height: int, width: int, focal: torch.Tensor) -> torch.Tensor:
    """d (B, H·W, 3), row-major over pixels, for focal lengths ``focal`` (B,) in pixels."""
    v, u = torch.meshgrid(torch.arange(height, device=focal.device, dtype=focal.dtype) + 0.5 - height / 2,
                          torch.arange(width, device=focal.device, dtype=focal.dtype) + 0.5 - width / 2,
                          indexing="ij")
    uv = torch.stack([u.reshape(-1), v.reshape(-1)], -1)  # (N, 2)
    xy = uv[None] / focal[:, None, None]                  # (B, N, 2)
    return torch.cat([xy, torch.ones_like(xy[..., :1])], -1)


def _local(d: torch.Tensor, center: torch.Tensor, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pinhole o = Rᵀ(0 − c) (B, K, 1, 3) and ray directions Rᵀd (B, K, N, 3) in each primitive's frame."""
    o = -torch.einsum("bkji,bkj->bki", rotation, center)[:, :, None]
    return o, torch.einsum("bkji,bnj->bkni", rotation, d)


def _hits(t: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    return torch.where(ok & (t > EPS), t, torch.full_like(t, math.inf))


def hit_planes(d, center, rotation):
    """t (B, K, N) of each ray d (B, N, 3) on planes through ``center`` (B, K, 3) with normals rotation[..., 1]."""
    normal = rotation[..., 1]                              # (B, K, 3)
    offset = (normal * center).sum(-1, keepdim=True)       # n·c
    denom = torch.einsum("bkj,bnj->bkn", normal, d)
    return _hits(offset / torch.where(denom == 0, torch.full_like(denom, EPS * EPS), denom), denom != 0)


def hit_spheres(d, center, radius):
    """t (B, K, N): the nearer root of |t·d − c|² = r²."""
    dd = (d * d).sum(-1)[:, None]                          # (B, 1, N)
    dc = torch.einsum("bkj,bnj->bkn", center, d)
    cc = (center * center).sum(-1, keepdim=True) - radius[..., None] ** 2
    disc = dc * dc - dd * cc
    return _hits((dc - disc.clamp_min(0).sqrt()) / dd, disc >= 0)


def hit_boxes(d, center, rotation, half):
    """t (B, K, N): where each ray enters the oriented box (slabs); a box holding the pinhole is missed."""
    o, dl = _local(d, center, rotation)
    dl = torch.where(dl.abs() < 1e-12, torch.full_like(dl, 1e-12), dl)
    e = half[:, :, None]
    t1, t2 = (-e - o) / dl, (e - o) / dl
    near = torch.minimum(t1, t2).amax(-1)
    far = torch.maximum(t1, t2).amin(-1)
    return _hits(near, near <= far)


def hit_cylinders(d, center, rotation, radius, half_height):
    """t (B, K, N): the nearest of the side (|y| ≤ half height) and the two caps (x² + z² ≤ r²)."""
    o, dl = _local(d, center, rotation)
    r, hh = radius[..., None], half_height[..., None]
    a = dl[..., 0] ** 2 + dl[..., 2] ** 2
    b = o[..., 0] * dl[..., 0] + o[..., 2] * dl[..., 2]
    c = o[..., 0] ** 2 + o[..., 2] ** 2 - r ** 2
    disc = b * b - a * c
    side = (-b - disc.clamp_min(0).sqrt()) / a.clamp_min(1e-12)
    y = o[..., 1] + side * dl[..., 1]
    t = _hits(side, (disc >= 0) & (a > 1e-12) & (y.abs() <= hh))
    dy = torch.where(dl[..., 1].abs() < 1e-12, torch.full_like(dl[..., 1], 1e-12), dl[..., 1])
    for cap in (-hh, hh):
        tc = (cap - o[..., 1]) / dy
        x, z = o[..., 0] + tc * dl[..., 0], o[..., 2] + tc * dl[..., 2]
        t = torch.minimum(t, _hits(tc, x * x + z * z <= r * r))
    return t


def local_normals_and_uv(kind: torch.Tensor, p: torch.Tensor, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """At hit points p (..., 3) in their primitive's local frame: the outward unit normal (..., 3)
    in that frame and surface coordinates (..., 2) in scene units (arc length on curved faces),
    for primitives of ``kind`` (...) and ``size`` (..., 3)."""
    x, y, z = p.unbind(-1)
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    # planes: local y is the normal; x and z lie in the plane
    n_plane, uv_plane = torch.stack([zero, one, zero], -1), torch.stack([x, z], -1)
    # spheres: the radial direction; longitude and latitude times the radius
    r = size[..., 0]
    n_sphere = p / r[..., None]
    uv_sphere = torch.stack([torch.atan2(x, z) * r, torch.asin((y / r).clamp(-1, 1)) * r], -1)
    # boxes: the face whose slab the point is at the edge of; the face's two in-plane coordinates
    axis = (p.abs() / size).argmax(-1)
    n_box = torch.nn.functional.one_hot(axis, 3).to(p.dtype) * torch.sign(p)
    uv_box = torch.where((axis == 0)[..., None], torch.stack([z, y], -1),
                         torch.where((axis == 1)[..., None], torch.stack([x, z], -1), torch.stack([x, y], -1)))
    # cylinders: a cap where |y| / half height is the larger relative coordinate, else the side
    radial = (x * x + z * z).sqrt().clamp_min(1e-12)
    cap = (y.abs() / size[..., 1]) >= (radial / size[..., 0])
    n_cyl = torch.where(cap[..., None], torch.stack([zero, torch.sign(y), zero], -1),
                        torch.stack([x / radial, zero, z / radial], -1))
    uv_cyl = torch.where(cap[..., None], torch.stack([x, z], -1),
                         torch.stack([torch.atan2(x, z) * size[..., 0], y], -1))
    k = kind[..., None]
    normal = torch.where(k == PLANE, n_plane, torch.where(k == SPHERE, n_sphere, torch.where(k == BOX, n_box, n_cyl)))
    uv = torch.where(k == PLANE, uv_plane, torch.where(k == SPHERE, uv_sphere, torch.where(k == BOX, uv_box, uv_cyl)))
    return normal, uv


__all__ = ["BOX", "CYLINDER", "PLANE", "SPHERE", "hit_boxes", "hit_cylinders", "hit_planes", "hit_spheres",
           "local_normals_and_uv", "pixel_rays"]
