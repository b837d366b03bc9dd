"""Procedural synthetic scenes with exact depth, surface normals and instance contours.

The built-in synthetic source of ``synthetic_multitask`` (Ren & Lee 2018 learn from rendered
scenes whose geometry comes free with the image): a room (floor, ceiling, back and side walls)
seen from a pinhole camera at a random height, yaw, pitch and field of view, with spheres, boxes
and cylinders at random places, sizes and orientations (resting on the floor, or floating and
tilted); with ``SceneConfig.room`` false, the objects alone on black. Every surface is textured
with a random crop of a real photograph (the two that scikit-learn ships,
``sklearn.datasets.load_sample_images``: no files of ours, no download; or of any bank of
pictures passed as ``textures``, as ``synthetic_multitask``'s ``textures=real`` passes the
user's own real batch), tiled at a random scale and tinted, and shaded Lambertian
under a random directional light plus ambient light (no shadows, no interreflection).

The picture is ray cast (``ssrl.data.ray_casting``), one ray through each pixel's centre, in
batches on whatever device the scenes are on, so the truths are exact per pixel, not estimated:
depth is the planar depth z of the nearest hit, the normal is the hit surface's unit normal in
the camera frame (x right, y down, z forward), the instance id is which primitive was hit (each
wall its own instance), and a pixel is an instance contour exactly when one of its 4 neighbours
shows another instance (``instance_contours``). No anti-aliasing, for the same reason.

Scene parameters are drawn on the CPU from a ``torch.Generator`` (``sample_scenes``); the
rendering given them is deterministic, so a seed fixes the batch on any device.
"""

import functools
import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from ssrl.data.ray_casting import (BOX, CYLINDER, PLANE, SPHERE, hit_boxes, hit_cylinders, hit_planes, hit_spheres,
                                   local_normals_and_uv, pixel_rays)

GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights: a 1-channel render of the RGB one
WALLS = 5                     # floor, ceiling, back wall, left wall, right wall: instance ids 0..4


@dataclass
class SyntheticBatch:
    """Synthetic images and their truths, all (B, ·, H, W) on one device."""

    image: torch.Tensor     # (B, C, H, W) float in [0, 1]
    depth: torch.Tensor     # (B, 1, H, W) float, > 0 where valid
    normals: torch.Tensor   # (B, 3, H, W) unit vectors, camera frame (x right, y down, z forward)
    ids: torch.Tensor       # (B, 1, H, W) int64 instance ids
    contours: torch.Tensor  # (B, 1, H, W) float 0/1 (``instance_contours`` of ids)
    valid: torch.Tensor     # (B, 1, H, W) bool: pixels with a depth and normal to learn from


def instance_contours(ids: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) float: 1 where a pixel's instance id differs from one of its 4 neighbours'
    (both sides of every boundary), 0 elsewhere."""
    edge = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
    across = ids[..., :, 1:] != ids[..., :, :-1]
    down = ids[..., 1:, :] != ids[..., :-1, :]
    edge[..., :, 1:] |= across
    edge[..., :, :-1] |= across
    edge[..., 1:, :] |= down
    edge[..., :-1, :] |= down
    return edge.float()


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → (B, 1, H, W) by the BT.601 luma weights."""
    return (image * image.new_tensor(GREY)[:, None, None]).sum(1, keepdim=True)


@functools.lru_cache(maxsize=1)
def photo_textures() -> torch.Tensor:
    """The photographs scikit-learn ships, (2, 3, 213, 320) float in [0, 1] on the CPU: halved
    (2 × 2 block means) from 427 × 640, finer than any crop a scene shows at ≤ 128 px."""
    from sklearn.datasets import load_sample_images

    images = np.stack([img[:426] for img in load_sample_images().images])  # (2, 426, 640, 3) uint8
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    return torch.nn.functional.avg_pool2d(x, 2)


@dataclass
class SceneConfig:
    spheres: int = 2                       # object slots of each kind; each slot is filled with p = ``fill``
    boxes: int = 2
    cylinders: int = 2
    fill: float = 0.75
    fov_deg: tuple = (40.0, 65.0)          # horizontal field of view
    pitch_deg: tuple = (5.0, 25.0)         # looking down; yaw ±yaw_deg: every ray then meets the back wall
    yaw_deg: float = 20.0
    room_depth: tuple = (5.0, 10.0)        # back wall distance (scene units, ~metres)
    room_half_width: tuple = (1.5, 3.5)    # each side wall's distance from the camera
    room_height: tuple = (2.6, 3.6)
    camera_height: tuple = (1.0, 1.8)
    floating: float = 0.3                  # probability that an object floats, tilted, instead of resting on the floor
    ambient: tuple = (0.15, 0.45)
    room: bool = True                      # False: no walls, the objects alone on black (missed rays: no truth)


@dataclass
class Scenes:
    """B scenes of P primitives (walls first, then spheres, boxes, cylinders), camera frame."""

    focal: torch.Tensor     # (B,) focal length in units of the image width
    kind: torch.Tensor      # (P,) PLANE | SPHERE | BOX | CYLINDER
    center: torch.Tensor    # (B, P, 3)
    rotation: torch.Tensor  # (B, P, 3, 3) columns: local axes
    size: torch.Tensor      # (B, P, 3) sphere (r, r, r); box half extents; cylinder (r, half height, r)
    active: torch.Tensor    # (B, P) bool: empty object slots are never hit
    texture: torch.Tensor   # (B, P) which photograph
    crop: torch.Tensor      # (B, P, 3) crop (left, top, side) in texture pixels
    tile: torch.Tensor      # (B, P) scene units per texture tile
    tint: torch.Tensor      # (B, P, 3) albedo factors per colour channel
    light: torch.Tensor     # (B, 3) unit vector towards the light
    ambient: torch.Tensor   # (B,)

    def to(self, device) -> "Scenes":
        return Scenes(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _uniform(gen, shape, bounds) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(shape, generator=gen)


def rotation(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """R = R_y(yaw) R_x(pitch) R_z(roll), (..., 3, 3), angles in radians."""
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    o, i = torch.zeros_like(yaw), torch.ones_like(yaw)
    ry = torch.stack([cy, o, sy, o, i, o, -sy, o, cy], -1).unflatten(-1, (3, 3))
    rx = torch.stack([i, o, o, o, cp, -sp, o, sp, cp], -1).unflatten(-1, (3, 3))
    rz = torch.stack([cr, -sr, o, sr, cr, o, o, o, i], -1).unflatten(-1, (3, 3))
    return ry @ rx @ rz


# Each wall's local axes in the room's frame (y down): columns x, y = the normal into the room, z.
_WALL_AXES = torch.tensor([
    [[1, 0, 0], [0, -1, 0], [0, 0, -1]],   # floor, normal up (−y)
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]],     # ceiling, normal down
    [[1, 0, 0], [0, 0, -1], [0, 1, 0]],    # back wall, normal towards the camera (−z)
    [[0, 0, 1], [1, 0, 0], [0, 1, 0]],     # left wall, normal +x
    [[0, 0, 1], [-1, 0, 0], [0, -1, 0]],   # right wall, normal −x
], dtype=torch.float32).transpose(1, 2)    # rows above are the columns


def _objects(cfg: SceneConfig, gen, b: int, room: dict, yaw: torch.Tensor, half_fov: torch.Tensor):
    """Objects in the room's frame: kind (K,), centre (B, K, 3), rotation, size (B, K, 3)."""
    kind = torch.tensor([SPHERE] * cfg.spheres + [BOX] * cfg.boxes + [CYLINDER] * cfg.cylinders)
    k = len(kind)
    size = torch.stack([_uniform(gen, (b, k), (0.25, 0.7)), _uniform(gen, (b, k), (0.2, 0.8)),
                        _uniform(gen, (b, k), (0.2, 0.7))], -1)
    size = torch.where((kind == SPHERE)[:, None], size[..., :1].expand_as(size), size)
    size = torch.where((kind == CYLINDER)[:, None], size[..., [0, 1, 0]] * size.new_tensor([0.7, 1, 0.7]), size)
    floats = torch.rand((b, k), generator=gen) < cfg.floating
    tilt = torch.where(floats[..., None], _uniform(gen, (b, k, 2), (-math.pi / 2, math.pi / 2)), torch.zeros(b, k, 2))
    rot = rotation(_uniform(gen, (b, k), (0, 2 * math.pi)), tilt[..., 0], tilt[..., 1])
    # inside the horizontal view (bearing within ±80 % of the half field of view), between 2.5 units and the back wall
    z = _uniform(gen, (b, k), (0, 1)) * (0.85 * room["depth"][:, None] - 2.5) + 2.5
    bearing = yaw[:, None] + half_fov[:, None] * _uniform(gen, (b, k), (-0.8, 0.8))
    reach = size.amax(-1)  # a bound of the object's half extent in any direction
    x = (z * bearing.tan()).clamp(-room["left"][:, None] + reach, room["right"][:, None] - reach)
    lift = torch.where(floats, _uniform(gen, (b, k), (0.2, 1.0)), torch.zeros(b, k))
    rest = torch.where(floats, reach, size[..., 1])  # resting objects are upright: half height above the floor
    y = room["floor"][:, None] - rest - lift
    return kind, torch.stack([x, y, z], -1), rot, size


@torch.autocast("cpu", enabled=False)  # geometry in float32 under any autocast
def sample_scenes(batch: int, cfg: SceneConfig = SceneConfig(), generator: torch.Generator | None = None,
                  bank: tuple[int, int, int] | None = None) -> Scenes:
    """B random scenes on the CPU, drawn from ``generator`` (a fresh seed from the global RNG if None),
    textured from a bank of ``bank`` = (count, height, width) pictures (``photo_textures``' if None):
    each crop's side is drawn as for the photographs and scaled by the bank's shorter side over theirs."""
    gen = generator or torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,))))
    b = batch
    rad = math.pi / 180
    half_fov = _uniform(gen, (b,), cfg.fov_deg) * rad / 2
    yaw, pitch = _uniform(gen, (b,), (-cfg.yaw_deg, cfg.yaw_deg)) * rad, _uniform(gen, (b,), cfg.pitch_deg) * rad
    room = {"depth": _uniform(gen, (b,), cfg.room_depth), "left": _uniform(gen, (b,), cfg.room_half_width),
            "right": _uniform(gen, (b,), cfg.room_half_width), "floor": _uniform(gen, (b,), cfg.camera_height)}
    ceiling = room["floor"] - _uniform(gen, (b,), cfg.room_height)  # y of the ceiling (up is −y)
    zero = torch.zeros(b)
    walls = torch.stack([torch.stack([zero, room["floor"], zero], -1), torch.stack([zero, ceiling, zero], -1),
                         torch.stack([zero, zero, room["depth"]], -1), torch.stack([-room["left"], zero, zero], -1),
                         torch.stack([room["right"], zero, zero], -1)], 1)                    # (B, 5, 3)
    kind, centers, rots, sizes = _objects(cfg, gen, b, room, yaw, half_fov)
    kind = torch.cat([torch.full((WALLS,), PLANE), kind])
    p = len(kind)
    # room frame → camera frame: the camera's axes in the room are R_cam = R_y(yaw) R_x(−pitch) (y down: −pitch looks down)
    cam = rotation(yaw, -pitch, zero).transpose(-1, -2)[:, None]                              # (B, 1, 3, 3) = R_camᵀ
    center = (cam @ torch.cat([walls, centers], 1)[..., None])[..., 0]
    rot = cam @ torch.cat([_WALL_AXES.expand(b, -1, -1, -1), rots], 1)
    size = torch.cat([torch.ones(b, WALLS, 3), sizes], 1)
    active = torch.cat([torch.full((b, WALLS), cfg.room), torch.rand((b, p - WALLS), generator=gen) < cfg.fill], 1)
    photos = photo_textures()  # the crop sides below are drawn in its pixels
    count, bank_h, bank_w = bank or (len(photos), *photos.shape[-2:])
    side = _uniform(gen, (b, p), (24.0, 96.0)) * (min(bank_h, bank_w) / min(photos.shape[-2:]))
    crop = torch.stack([torch.rand((b, p), generator=gen) * (bank_w - 2 - side),
                        torch.rand((b, p), generator=gen) * (bank_h - 2 - side), side], -1)
    tile = torch.where(kind == PLANE, _uniform(gen, (b, p), (1.0, 3.0)), _uniform(gen, (b, p), (0.4, 1.5)))
    light = torch.stack([_uniform(gen, (b,), (-1, 1)), _uniform(gen, (b,), (-1.5, -0.3)), _uniform(gen, (b,), (-1.0, 0.2))], -1)
    return Scenes(focal=0.5 / half_fov.tan(), kind=kind, center=center, rotation=rot, size=size, active=active,
                  texture=torch.randint(0, count, (b, p), generator=gen), crop=crop, tile=tile,
                  tint=_uniform(gen, (b, p, 3), (0.6, 1.2)), light=light / light.norm(dim=-1, keepdim=True),
                  ambient=_uniform(gen, (b,), cfg.ambient))


def _sample_texture(bank: torch.Tensor, index: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (..., 3) of photographs ``bank`` (T, 3, h, w) number ``index`` (...) at pixel coordinates xy (..., 2)."""
    t, _, h, w = bank.shape
    flat = bank.permute(0, 2, 3, 1).reshape(-1, 3)
    x, y = xy[..., 0] - 0.5, xy[..., 1] - 0.5
    x0, y0 = x.floor(), y.floor()
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]

    def at(xi, yi):
        xi, yi = xi.long().clamp(0, w - 1), yi.long().clamp(0, h - 1)
        return flat[(index * h + yi) * w + xi]

    return ((1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0))
            + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1)))


def cast(scenes: Scenes, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth (B, N) of the nearest hit along each pixel's ray (N = H·W, row-major) and which
    primitive (B, N) it hit; +inf and −1 where a ray meets nothing."""
    d = pixel_rays(height, width, scenes.focal * width)
    t = torch.full((len(d), len(scenes.kind), d.shape[1]), math.inf, device=d.device)
    kind, c, r, s = scenes.kind, scenes.center, scenes.rotation, scenes.size
    for code in (PLANE, SPHERE, BOX, CYLINDER):
        idx = (kind == code).nonzero()[:, 0]
        if len(idx) == 0:
            continue
        if code == PLANE:
            t[:, idx] = hit_planes(d, c[:, idx], r[:, idx])
        elif code == SPHERE:
            t[:, idx] = hit_spheres(d, c[:, idx], s[:, idx, 0])
        elif code == BOX:
            t[:, idx] = hit_boxes(d, c[:, idx], r[:, idx], s[:, idx])
        else:
            t[:, idx] = hit_cylinders(d, c[:, idx], r[:, idx], s[:, idx, 0], s[:, idx, 1])
    t = torch.where(scenes.active[..., None], t, math.inf)
    depth, hit = t.min(1)
    return depth, torch.where(depth.isfinite(), hit, -1)


@torch.no_grad()
def render(scenes: Scenes, height: int, width: int, channels: int = 3,
           textures: torch.Tensor | None = None) -> SyntheticBatch:
    """The scenes' images and truths at H × W on the scenes' device, in float32 whatever autocast
    is on (depth and normals are geometry, not activations)."""
    device = scenes.center.device
    with torch.autocast(device.type, enabled=False):
        bank = (photo_textures() if textures is None else textures).to(device)
        b, (h, w) = len(scenes.focal), (height, width)
        depth, hit = cast(scenes, h, w)
        idx = hit.clamp_min(0)
        take = lambda x: torch.gather(x, 1, idx.view(b, -1, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:]))  # noqa: E731
        center, rot, size = take(scenes.center), take(scenes.rotation), take(scenes.size)   # (B, N, ...)
        d = pixel_rays(h, w, scenes.focal * w)
        p = depth.clamp_max(1e6)[..., None] * d
        local = torch.einsum("bnji,bnj->bni", rot, p - center)                            # Rᵀ(p − c)
        n_local, uv = local_normals_and_uv(scenes.kind[idx], local, size)
        normal = torch.einsum("bnij,bnj->bni", rot, n_local)
        normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        crop, tile = take(scenes.crop), take(scenes.tile)
        xy = (uv / tile[..., None]).frac().abs() * crop[..., 2:] + crop[..., :2]
        albedo = _sample_texture(bank, take(scenes.texture), xy) * take(scenes.tint)
        lambert = (normal * scenes.light[:, None]).sum(-1, keepdim=True).clamp_min(0)
        ambient = scenes.ambient[:, None, None]
        image = (albedo * (ambient + (1 - ambient) * lambert)).clamp(0, 1)
        grid = lambda x: x.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        image, ids, depth, normal = grid(image), grid(hit), grid(depth), grid(normal)
        valid = ids >= 0  # all pixels in a room; a ray that misses every object sees black, depth 1, no normal
        image, depth, normal = image * valid, torch.where(valid, depth, 1.0), normal * valid
        return SyntheticBatch(image=to_grey(image) if channels == 1 else image, depth=depth, normals=normal,
                              ids=ids, contours=instance_contours(ids), valid=valid)


class ProceduralScenes:
    """The built-in synthetic source: ``sample(B, (H, W), C, device)`` renders B fresh random
    scenes on ``device`` (parameters drawn from ``generator``, else from the global RNG),
    textured with the photographs, or with ``textures`` (T, C, h, w) in [0, 1] if given (grey
    ones repeated to RGB; h, w ≥ 8)."""

    def __init__(self, cfg: SceneConfig = SceneConfig()):
        self.cfg = cfg

    def sample(self, batch: int, size: tuple[int, int], channels: int = 3, device=None,
               generator: torch.Generator | None = None, textures: torch.Tensor | None = None) -> SyntheticBatch:
        if textures is not None:
            textures = textures.detach().float().expand(-1, 3, -1, -1) if textures.shape[1] == 1 else textures.detach().float()
        bank = None if textures is None else (len(textures), *textures.shape[-2:])
        scenes = sample_scenes(batch, self.cfg, generator, bank).to(device or "cpu")
        return render(scenes, *size, channels=channels, textures=textures)


__all__ = ["ProceduralScenes", "SceneConfig", "Scenes", "SyntheticBatch", "cast", "instance_contours", "photo_textures",
           "render", "rotation", "sample_scenes", "to_grey"]
