"""A Hugging Face ``datasets.Dataset``'s image column kept encoded, as an image folder's files are.

The column's ``Image`` feature is read with ``decode=False``: every item is then its encoded bytes
(or the path of its file). One pass reads each image's header (its size and whether it has colour,
for the folder's working-size rule, ``folder.choose_working_size``) and hashes the bytes; the
images themselves are decoded only when read, through ``EncodedImages``, so ``held_or_streamed``
decodes them into memory where they fit the memory budget and streams them while training where
they do not.
"""

import hashlib
import io
from collections import Counter
from pathlib import Path

from PIL import Image

from ssrl.data.decode import decode_error, is_colour
from ssrl.data.encoded import EncodedImages
from ssrl.data.folder import choose_working_size


class DatasetItems:
    """Items that are a Hugging Face Dataset's encoded images: item i as (its bytes, or its file's
    path, and the name messages give it)."""

    def __init__(self, data, column: str, kind: str):
        self.data, self.column, self.kind = data, column, kind

    def __len__(self) -> int:
        return len(self.data)

    def __call__(self, i: int) -> tuple[bytes | Path, str]:
        cell = self.data[int(i)][self.column]
        return cell["bytes"] if cell.get("bytes") is not None else Path(cell["path"]), f"{self.kind} item {i}"


def encoded_images(data, column: str, kind: str) -> tuple[EncodedImages, str] | None:
    """(``data``'s images, decoded when read; a hash of their bytes) where ``data`` is a Hugging
    Face Dataset whose ``column`` is an ``Image`` feature; else None. An image whose header cannot
    be read is named."""
    features = getattr(data, "features", None)
    feature = features.get(column) if isinstance(features, dict) and hasattr(data, "cast_column") else None
    if type(feature).__name__ != "Image":
        return None
    raw = data.cast_column(column, type(feature)(decode=False))
    items = DatasetItems(raw, column, kind)
    sizes, colour, digest = Counter(), False, hashlib.sha256()
    for i in range(len(raw)):
        blob, name = items(i)
        try:
            encoded = blob if isinstance(blob, bytes) else blob.read_bytes()
            with Image.open(io.BytesIO(encoded)) as img:
                sizes[img.size] += 1
                colour = colour or is_colour(img)
        except Exception as exc:  # Pillow raises many exception types on broken files
            raise decode_error(name, exc) from exc
        digest.update(encoded)
    size = choose_working_size(kind, sizes)
    return EncodedImages(items, len(raw), 3 if colour else 1, size), digest.hexdigest()
