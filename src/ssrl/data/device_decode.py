"""Decoding a batch of JPEGs on the training device (``--decode-on-device``).

Decoding on CPU cores caps a streamed run at what its cores decode (BENCHMARKS.md, B3). With
this option the DataLoader workers only read each file's bytes; the training process hands the
batch's JPEGs to ``torchvision.io.decode_jpeg(files, device=...)`` in one call (nvJPEG on a CUDA
device; libjpeg-turbo on a CPU, which is how the tests run it), then resizes each image on the
device to the working size as every other path does (shorter side, antialiased, centre crop).
Files that are not JPEGs, and JPEGs the device decoder refuses, are decoded on the CPU by the
common decoder (``ssrl.data.decode``), so every format still works. Pixels differ from the CPU
path's by the decoders' rounding (a few levels): torchvision decodes at full size, while Pillow
decodes a large JPEG at a reduced scale (``draft``).
"""

from __future__ import annotations

import warnings

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from ssrl.data.decode import decode, decode_error
from ssrl.data.encoded import fill_unreadable
from ssrl.data.source import resize_square

JPEG_MAGIC = (0xFF, 0xD8, 0xFF)


class EncodedBatch:
    """A batch of image files' bytes (uint8 tensors on the CPU) and their names, decoded by
    ``decode(device)``. Not a dataclass: Lightning would move its tensors to the device, and
    ``decode_jpeg`` takes them on the CPU."""

    def __init__(self, files: list[torch.Tensor], names: list[str], channels: int, size: int,
                 skip_bad: bool = False):
        self.files, self.names, self.channels, self.size, self.skip_bad = files, names, channels, size, skip_bad

    def __len__(self) -> int:
        return len(self.files)

    def decode(self, device: torch.device) -> tuple[torch.Tensor, list[str]]:
        """(B, C, size, size) uint8 on ``device``, and the messages of the files skipped (with
        skip_bad; without it the first unreadable file raises a DataError naming it)."""
        out = torch.empty(len(self), self.channels, self.size, self.size, dtype=torch.uint8, device=device)
        jpegs = [i for i, f in enumerate(self.files) if tuple(f[:3].tolist()) == JPEG_MAGIC]
        on_cpu = sorted(set(range(len(self))) - set(self._decode_jpegs(jpegs, out, device)))
        bad, skipped = [], []
        for i in on_cpu:
            try:
                out[i] = decode(self.files[i].numpy().tobytes(), "RGB" if self.channels == 3 else "L", self.size,
                                self.names[i]).to(device)
            except Exception as exc:  # Pillow raises many exception types on broken files
                error = decode_error(self.names[i], exc)
                if not self.skip_bad:
                    raise error from exc
                bad.append(i)
                skipped.append(str(error))
                warnings.warn(f"skipped (--skip-bad): {error}", stacklevel=2)
        fill_unreadable(out, bad, skipped)
        return out, skipped

    def _decode_jpegs(self, rows: list[int], out: torch.Tensor, device: torch.device) -> list[int]:
        """Decode the JPEGs of ``rows`` on ``device`` into ``out``, all in one call when they all
        decode, else one by one; returns the rows done (the others go to the CPU decoder)."""
        if not rows:
            return []
        mode = ImageReadMode.RGB if self.channels == 3 else ImageReadMode.GRAY
        try:
            images = decode_jpeg([self.files[i] for i in rows], mode=mode, device=device)
        except RuntimeError:  # one file the device decoder refuses fails the call: find it
            images = []
            for i in rows:
                try:
                    images.append(decode_jpeg(self.files[i], mode=mode, device=device))
                except RuntimeError:
                    images.append(None)
        done = []
        for i, image in zip(rows, images):
            if image is not None:
                out[i] = resize_square(image[None], self.size)[0]
                done.append(i)
        return done

