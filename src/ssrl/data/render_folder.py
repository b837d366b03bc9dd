"""A folder of renders a user brings (Blender, a game engine, any renderer) as synthetic data.

Layout: one folder per scene, any names (read in sorted order), each holding four files::

    RENDERS/
      scene_0001/
        rgb.png        the image: 8-bit RGB or grey PNG (or rgb.jpg)
        depth.png      depth: a 16-bit grey PNG in millimetres (0 = no depth) ...
        depth.npy      ... or a float array (H, W) in any unit (0, inf or NaN = no depth)
        normals.png    surface normals, 8-bit RGB: n = rgb / 127.5 − 1, camera frame x right, y down,
                       z forward (OpenCV's; OpenGL renderers such as Blender write y up and z towards
                       the camera: flip G and B); black (0, 0, 0) = no normal
        ids.png        instance ids: an 8- or 16-bit grey or palette PNG, one value per instance
      scene_0002/
        ...

Every file of a scene has the image's size, and every scene one size. Instance contours are
derived from ``ids.png`` exactly as for the procedural scenes (``instance_contours``), after
any resize, so they stay one pixel either side of each boundary. Pixels without depth or normal
are left out of the depth and normal losses (``SyntheticBatch.valid``).

``RenderFolder(path)`` reads and checks every scene once, into memory, and names the file at
fault (a missing depth map, sizes that disagree, a depth PNG that is not 16-bit, ...);
``sample`` draws a batch, resized to the real images' size (bilinear for the image, nearest for
depth, normals and ids, so none is blended across an instance boundary).
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ssrl.data.synthetic_scenes import SyntheticBatch, instance_contours, to_grey
from ssrl.errors import DataError

IMAGE_NAMES = ("rgb.png", "rgb.jpg", "rgb.jpeg")
DEPTH_NAMES = ("depth.png", "depth.npy")


def _one_of(scene: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (scene / name).is_file():
            return scene / name
    raise DataError(f"{scene}: no {what} ({' or '.join(names)})")


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from e


def _read_image(path: Path) -> np.ndarray:
    """(H, W, C) uint8, C = 1 or 3."""
    img = _open(path)
    if img.mode not in ("L", "RGB"):
        if img.mode in ("P", "RGBA", "LA", "PA"):
            img = img.convert("RGB")
        else:
            raise DataError(f"{path}: the image must be 8-bit RGB or grey, got mode {img.mode}")
    x = np.asarray(img)
    return x[..., None] if x.ndim == 2 else x


def _read_depth(path: Path) -> np.ndarray:
    """(H, W) float32, 0 where there is no depth."""
    if path.suffix == ".npy":
        try:
            d = np.load(path, allow_pickle=False)  # a file we are handed: never unpickle
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable .npy array ({e})") from e
        d = d[..., 0] if d.ndim == 3 and d.shape[-1] == 1 else d
        if d.ndim != 2 or not np.issubdtype(d.dtype, np.number):
            raise DataError(f"{path}: depth must be a numeric (H, W) array, got {d.dtype} {d.shape}")
        d = d.astype(np.float32)
        return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)
    img = _open(path)
    if not (img.mode.startswith("I;16") or img.mode == "I"):
        raise DataError(f"{path}: depth must be a 16-bit grey PNG in millimetres, got mode {img.mode} "
                        "(8 bits cannot hold depth; or give depth.npy)")
    return np.asarray(img, dtype=np.float32) / 1000


def _read_normals(path: Path) -> np.ndarray:
    img = _open(path)
    if img.mode != "RGB":
        raise DataError(f"{path}: normals must be an 8-bit RGB PNG (n = rgb / 127.5 − 1), got mode {img.mode}")
    return np.asarray(img)


def _read_ids(path: Path) -> np.ndarray:
    img = _open(path)
    if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise DataError(f"{path}: instance ids must be an 8- or 16-bit grey or palette PNG, got mode {img.mode}")
    return np.asarray(img).astype(np.int32)


def _size_of(array: np.ndarray) -> tuple[int, int]:
    return array.shape[1], array.shape[0]  # (W, H), as images state it


def read_scene(scene: Path) -> dict[str, np.ndarray]:
    """One scene folder's arrays (image (H, W, C) uint8, depth (H, W) float32, normals (H, W, 3)
    uint8, ids (H, W) int32), every file's size checked against the image's."""
    image_path = _one_of(scene, IMAGE_NAMES, "image")
    files = {"depth": _one_of(scene, DEPTH_NAMES, "depth map"), "normals": _one_of(scene, ("normals.png",), "normal map"),
             "ids": _one_of(scene, ("ids.png",), "instance id map")}
    out = {"image": _read_image(image_path)}
    readers = {"depth": _read_depth, "normals": _read_normals, "ids": _read_ids}
    for key, path in files.items():
        out[key] = readers[key](path)
        if out[key].shape[:2] != out["image"].shape[:2]:
            w, h = _size_of(out[key])
            iw, ih = _size_of(out["image"])
            raise DataError(f"{path} is {w}×{h} but {image_path.name} is {iw}×{ih}: every file of a scene "
                            "has the image's size")
    return out


class RenderFolder:
    """The scenes of a render folder (module docstring), in memory; ``sample`` as ``ProceduralScenes.sample``."""

    def __init__(self, path: str | Path):
        root = Path(path)
        if not root.is_dir():
            raise DataError(f"{root}: not a folder of renders (one folder per scene; or --param synthetic=procedural)")
        scenes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not scenes:
            raise DataError(f"{root}: no scene folders (each scene: a folder with rgb.png, depth.png or depth.npy, "
                            "normals.png, ids.png)")
        resolved = root.resolve()
        arrays = []
        for scene in scenes:
            if resolved not in scene.resolve().parents:
                raise DataError(f"{scene}: leads outside {root}")
            arrays.append(read_scene(scene))
            if arrays[-1]["image"].shape[:2] != arrays[0]["image"].shape[:2]:
                (w, h), (w0, h0) = _size_of(arrays[-1]["image"]), _size_of(arrays[0]["image"])
                raise DataError(f"{scene} is {w}×{h} but {scenes[0]} is {w0}×{h0}: every scene has one size")
        channels = max(a["image"].shape[2] for a in arrays)
        self.name = str(root)
        self.image = torch.from_numpy(np.stack([np.broadcast_to(a["image"], (*a["image"].shape[:2], channels))
                                                for a in arrays])).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W) uint8
        self.depth = torch.from_numpy(np.stack([a["depth"] for a in arrays]))[:, None]                 # (N, 1, H, W)
        self.normals = torch.from_numpy(np.stack([a["normals"] for a in arrays])).permute(0, 3, 1, 2).contiguous()
        self.ids = torch.from_numpy(np.stack([a["ids"] for a in arrays]))[:, None]                     # (N, 1, H, W)

    def __len__(self) -> int:
        return len(self.image)

    def sample(self, batch: int, size: tuple[int, int], channels: int = 3, device=None,
               generator: torch.Generator | None = None) -> SyntheticBatch:
        """``batch`` scenes drawn with replacement (from ``generator``, else the global RNG), at ``size`` (H, W)."""
        index = torch.randint(0, len(self), (batch,), generator=generator)
        size = tuple(size)
        near = lambda x: x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="nearest")  # noqa: E731
        image = self.image[index].to(device).float().div_(255)
        if tuple(image.shape[-2:]) != size:
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
        if channels == 1 and image.shape[1] == 3:
            image = to_grey(image)
        elif channels == 3 and image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        depth = near(self.depth[index].to(device))
        raw = near(self.normals[index].to(device).float())
        normals = raw / 127.5 - 1
        length = normals.norm(dim=1, keepdim=True)
        ids = near(self.ids[index].to(device).float()).long()
        valid = (depth > 0) & (raw.amax(1, keepdim=True) > 0) & (length > 0.5)  # black: no normal
        return SyntheticBatch(image=image, depth=torch.where(valid, depth, 1.0), normals=normals / length.clamp_min(1e-6),
                              ids=ids, contours=instance_contours(ids), valid=valid)


__all__ = ["RenderFolder", "read_scene"]
