"""Tiny writers for the files the data tests read: IDX files and images."""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file holding a uint8 array (gzipped when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, size: int = 6, gz: bool = True,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-style train/t10k image and label files; returns the train images and labels."""
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        y = np.arange(n, dtype=np.uint8) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
        if prefix == "train":
            train = x, y
    return train


def write_image(path: Path, mode: str, size: tuple[int, int] = (8, 8), seed: int = 0) -> Path:
    """A random image in PIL `mode` (L, LA, RGB, RGBA, or P: a colour palette) saved by its extension."""
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 3}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if bands == 1 else pixels)
    if mode == "P":
        image = image.convert("P")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_png16(path: Path, pixels: np.ndarray) -> Path:
    """A 16-bit PNG of (H, W) gray or (H, W, C) pixels, C = 2 (gray+alpha), 3 (RGB) or 4 (RGBA),
    written by hand: Pillow writes 16 bits only for gray ("I;16")."""
    pixels = np.asarray(pixels, dtype=np.uint16)
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    h, w, c = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path
