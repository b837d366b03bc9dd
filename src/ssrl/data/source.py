"""The in-memory data set every loader returns, and the pixel helpers they share.

All sources end up as one uint8 tensor (N, C, H, W) with C in {1, 3}: uint8 keeps them four
times smaller than float. Image folders and shards too large for memory stay encoded
(``ssrl.data.encoded.EncodedImages``, the same shape, decoded when indexed). Resizing and alpha
removal live here, once, so every format treats pixels the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssrl.errors import DataError


@dataclass
class Source:
    """An in-memory image data set: D_s (unlabeled, labels None) or D_t (labeled)."""

    images: torch.Tensor            # (N, C, H, W) uint8, contiguous, C in {1, 3}; or EncodedImages
    labels: torch.Tensor | None     # (N,) int64 or None
    name: str                       # where it came from (path or data-set name), for messages
    classes: list[str] | None = None  # class names by label index, when known

    def __post_init__(self):
        x = self.images
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"{self.name}: images must be uint8 (N, C, H, W) with C in 1 or 3, "
                            f"got {x.dtype} {tuple(x.shape)}")
        if self.in_memory:
            self.images = x.contiguous()
        if self.labels is not None:
            if self.labels.shape != (len(x),):
                raise DataError(f"{self.name}: {len(x)} images but labels of shape {tuple(self.labels.shape)}")
            self.labels = self.labels.to(torch.int64)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def in_memory(self) -> bool:
        """Whether the images are decoded (a tensor), rather than decoded when read."""
        return isinstance(self.images, torch.Tensor)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W)."""
        return tuple(self.images.shape[2:])

    def subset(self, index) -> Source:
        """The images (and labels) at `index`: a LongTensor, a list of ints or a slice."""
        if isinstance(index, list):  # an empty list would otherwise index as float
            index = torch.tensor(index, dtype=torch.long)
        labels = None if self.labels is None else self.labels[index]
        images = self.images[index] if self.in_memory else self.images.subset(index)
        return Source(images, labels, self.name, self.classes)


def to_unit(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 pixels (any shape) as ``dtype`` in [0, 1]: the one conversion every consumer of a
    Source's images uses (training batches, features, reconstructions)."""
    if images.dtype != torch.uint8:  # .to() would return the tensor itself, and div_ overwrite it
        raise TypeError(f"to_unit takes uint8 pixels, got {images.dtype}")
    return images.to(dtype).div_(255)


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, C, size, size): shorter side to `size`, then centre crop.

    Bilinear with antialias, so downscaling does not alias; a no-op at the native size,
    so data already at the requested size stays bit-exact.
    """
    if images.shape[-2:] == (size, size):
        return images
    from torchvision.transforms.v2 import functional as TF  # here: torchvision takes seconds to import

    images = TF.resize(images, size, antialias=True)
    return TF.center_crop(images, size).contiguous()


def remove_alpha(images: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) uint8 with C = 2 (gray+alpha) or 4 (RGBA) -> colour composited onto white.

    Dropping alpha would turn transparent areas into whatever colour the file stored
    there (often black); white is what image viewers show.
    """
    colour, alpha = images[..., :-1, :, :].float(), images[..., -1:, :, :].float() / 255
    return (colour * alpha + 255 * (1 - alpha)).round_().to(torch.uint8)


def from_16bit(values: np.ndarray) -> np.ndarray:
    """16-bit pixels (any integer dtype, values in 0..65535) -> uint8 by the high byte, v >> 8.

    The full 16-bit range maps onto the full 8-bit range (0 -> 0, 65535 -> 255, 257·k -> k),
    each 8-bit level taking 256 consecutive 16-bit values. It is the rule Pillow applies to
    16-bit colour PNGs, so 16-bit gray and colour files, and uint16 arrays, agree.
    """
    return (values.astype(np.uint16) >> 8).astype(np.uint8)


def check_image_size(image_size: int | None) -> None:
    """Reject a requested size that cannot be an image side."""
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")


def at_size(source: Source, image_size: int | None) -> Source:
    """`source` resized to image_size x image_size when a size is asked for and differs (images
    still encoded were read at the size asked for, so they never differ)."""
    check_image_size(image_size)
    if image_size is None or source.image_size == (image_size, image_size):
        return source
    return Source(resize_square(source.images, image_size), source.labels, source.name, source.classes)
