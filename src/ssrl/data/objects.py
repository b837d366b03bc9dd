"""Images given as Python objects instead of paths: NumPy arrays and tensors, ``(x, y)`` pairs,
map-style ``torch.utils.data.Dataset``s (torchvision's data set objects among them) and Hugging
Face ``datasets.Dataset``s.

``hold`` converts the object once into an in-memory ``Source``, with the file loaders' checks and
messages (layouts (N, H, W), (N, H, W, C), (N, C, H, W); uint8, uint16 or floats in [0, 1]; NaN
and out-of-range values named), and files it under a spec string, ``in-memory-KIND-SHAPE-HASH``
(the hash is of the pixels and labels), which the rest of ssrl passes around as it does a path,
and which a run's ``config.yaml`` records. The object is read in this process only: ``--resume``
or an evaluation in another process, given that string, is told to pass the object again.

Dataset items may be an image, an ``(image, label)`` pair or a dict (``image_column``,
``label_column``); an image a PIL image, an array or a tensor ((C, H, W) tensors as torchvision's
``ToTensor`` makes them). Items of several sizes are brought to the most common size (shorter
side, then centre crop; at most 64 px, the choice stated), as image folders are. A Hugging Face
``Image`` column is the exception: it stays encoded (``ssrl.data.hugging_face``), decoded when read.

Documents are text data: a list of strings (with labels: a ``(texts, labels)`` pair, labels being
class names or numbers), or a Hugging Face ``Dataset`` with a ``text_column`` and no image column;
they are held by ``ssrl.data.text`` under ``in-memory-text-N-HASH``.
"""

import hashlib
from collections import Counter

import numpy as np
import torch

from ssrl.data.arrays import images_tensor, labels_tensor
from ssrl.data.encoded import EncodedImages
from ssrl.data.folder import choose_working_size
from ssrl.data.hugging_face import encoded_images
from ssrl.data.source import Source, resize_square
from ssrl.data.text import hold_rows
from ssrl.errors import DataError
from ssrl.hashing import update_digest

PREFIX = "in-memory-"
_HELD: dict[str, Source] = {}


def is_object(data) -> bool:
    """Whether ``data`` is an object ``hold`` takes (not a path or a data-set name)."""
    return not isinstance(data, (str, bytes)) and not hasattr(data, "__fspath__")


def as_spec(data, labels=None) -> str | None:
    """A path or data-set name as a string, None as None, anything else held (``hold``)."""
    if data is None or not is_object(data):
        return data if data is None else str(data)
    return hold(data, labels)


def hold(data, labels=None, *, image_column: str = "image", label_column: str = "label",
         text_column: str = "text") -> str:
    """The spec string of ``data`` (see the module), converted and held for this process."""
    if isinstance(data, tuple) and len(data) == 2 and labels is None:
        data, labels = data
    kind = type(data).__name__
    texts = _texts(data, image_column, text_column)
    if texts is not None:
        if labels is None and hasattr(data, "column_names") and label_column in data.column_names:
            labels = _label_names(data, label_column)
        return _hold_texts(texts, labels, kind)
    encoded = encoded_images(data, image_column, kind)
    if encoded is not None:  # a Hugging Face image column: decoded when read, as a folder's files
        return _hold_encoded(data, *encoded, labels, kind, label_column)
    if _is_array(data):
        images, found = images_tensor(_numpy(data), f"{kind} {tuple(data.shape)}"), None
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        images, found = _from_items(data, kind, image_column, label_column)
    else:
        raise DataError(f"data of type {kind}: expected a path, a data-set name, an array or tensor of images, "
                        "an (images, labels) pair, a torch Dataset or a Hugging Face Dataset")
    labels = found if labels is None else labels
    where = f"{kind} {tuple(images.shape)}"
    y = None if labels is None else labels_tensor(_numpy(labels), len(images), where)
    digest = hashlib.sha256()
    update_digest(digest, images)
    if y is not None:
        update_digest(digest, y)
    spec = f"{PREFIX}{kind.lower()}-{'x'.join(map(str, images.shape))}-{digest.hexdigest()[:12]}"
    _HELD[spec] = Source(images, y, spec, _classes(data, label_column))
    return spec


def _texts(data, image_column: str, text_column: str) -> list[str] | None:
    """The documents of ``data`` where it is text (see the module), else None."""
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], str):
        return list(data)
    columns = getattr(data, "column_names", None)
    if isinstance(columns, list) and text_column in columns and image_column not in columns:
        return list(data[text_column])
    return None


def _label_names(data, label_column: str) -> list:
    """A Hugging Face Dataset's labels, as class names where its ClassLabel has them."""
    values, names = list(data[label_column]), _classes(data, label_column)
    return [names[v] for v in values] if names and all(isinstance(v, int) for v in values) else values


def _hold_texts(texts: list, labels, kind: str) -> str:
    """``texts`` (and ``labels``) held as text rows; a non-string document or a label count
    other than the documents' is named."""
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"{kind} item {bad}: a document must be a string, got {type(texts[bad]).__name__}")
    if labels is not None:
        labels = [str(y) for y in (_numpy(labels).tolist() if _is_array(labels) else labels)]
        if len(labels) != len(texts):
            raise DataError(f"{kind}: {len(labels)} labels for {len(texts)} documents")
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    for label in labels or []:
        digest.update(label.encode("utf-8") + b"\1")
    return hold_rows(texts, labels, digest.hexdigest())


def is_held_spec(spec: str) -> bool:
    return spec.startswith(PREFIX)


def _hold_encoded(data, images: EncodedImages, digest: str, labels, kind: str, label_column: str) -> str:
    """The spec of a Hugging Face Dataset's images kept encoded (``ssrl.data.hugging_face``)."""
    if labels is None and label_column in getattr(data, "column_names", []):
        labels = data[label_column]
    y = None if labels is None else labels_tensor(_numpy(labels), len(images), f"{kind} {tuple(images.shape)}")
    spec = f"{PREFIX}{kind.lower()}-{'x'.join(map(str, images.shape))}-{digest[:12]}"
    _HELD[spec] = Source(images, y, spec, _classes(data, label_column))
    return spec


def load_held(spec: str, split: str = "train", image_size: int | None = None) -> Source:
    """The source held under ``spec`` (it has no split of its own: ``split`` must be train);
    images kept encoded are read at ``image_size`` where one is asked for."""
    if spec not in _HELD:
        raise DataError(f"{spec}: data that was passed as a Python object to another process; pass the object "
                        "itself again (a path or data-set name can be read by any process)")
    if split != "train":
        raise DataError(f"{spec}: data held in memory has no {split!r} split")
    source = _HELD[spec]
    images = source.images
    if isinstance(images, EncodedImages) and image_size is not None and image_size != images.size:
        images = EncodedImages(images.items, 0, images.channels, image_size, images.skip_bad, images.index)
        return Source(images, source.labels, source.name, source.classes)
    return source


def _is_array(data) -> bool:
    return isinstance(data, (np.ndarray, torch.Tensor))


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _from_items(data, kind: str, image_column: str, label_column: str) -> tuple[torch.Tensor, list | None]:
    """Every item's image as (1 or 3, H, W) uint8 at the most common size; the labels, if any."""
    if len(data) == 0:
        raise DataError(f"{kind}: no items")
    images, labels = [], []
    for i in range(len(data)):
        image, label = _split_item(data[i], f"{kind} item {i}", image_column, label_column)
        images.append(images_tensor(_image_array(image, f"{kind} item {i}"), f"{kind} item {i}")[0])
        labels.append(label)
    channels = max(x.shape[0] for x in images)
    size = choose_working_size(kind, Counter((x.shape[2], x.shape[1]) for x in images))  # as for folders
    images = [x.expand(channels, *x.shape[1:]) for x in images]  # grey items beside colour ones
    stacked = torch.stack([x if x.shape[1:] == (size, size) else resize_square(x[None], size)[0] for x in images])
    if all(label is None for label in labels):
        return stacked, None
    if any(label is None for label in labels):
        raise DataError(f"{kind}: some items have a label and some do not")
    return stacked, [int(label) for label in labels]


def _split_item(item, where: str, image_column: str, label_column: str):
    """(image, label or None) of one item."""
    if isinstance(item, dict):
        if image_column not in item:
            raise DataError(f"{where}: no {image_column!r} column (it has {', '.join(map(str, item))}); "
                            "pass image_column=")
        return item[image_column], item.get(label_column)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item
    return item, None


def _image_array(image, where: str) -> np.ndarray:
    """One image as a (1, H, W) / (1, H, W, C) / (1, C, H, W) array ``images_tensor`` takes."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB" if len(image.getbands()) >= 3 else "L")
        return np.array(image)[None]  # a copy: PIL's buffer is read-only
    if _is_array(image):
        return _numpy(image)[None]
    raise DataError(f"{where}: an image must be a PIL image, an array or a tensor, got {type(image).__name__}")


def _classes(data, label_column: str) -> list[str] | None:
    """Class names where the object has them (torchvision's ``classes``, a Hugging Face ClassLabel)."""
    names = getattr(data, "classes", None)
    if names is None:
        feature = getattr(data, "features", {}).get(label_column) if hasattr(data, "features") else None
        names = getattr(feature, "names", None)
    return [str(n) for n in names] if names else None
