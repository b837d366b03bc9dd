"""Writing a file into a run directory (or beside an export) without ever leaving half of it, or
writing through a link someone planted there.

``write_atomic`` writes to a new temporary file in the same folder (created exclusively, under a
random name, so no existing file or link is opened), flushes it to disk, and renames it over the
target: ``os.replace`` replaces a link at the target rather than following it. A failure (a full
disk, say) removes the temporary file and raises; the target is then as it was. ``save_atomic``
does the same for writers that take a file object (NumPy, torch, matplotlib, Pillow).
"""

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ssrl.errors import SsrlError


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` atomically (see the module); returns ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_atomic(path: str | Path, save: Callable[[io.BytesIO], object]) -> Path:
    """``write_atomic`` of what ``save(file)`` writes into a file object: ``np.save``,
    ``torch.save``, a figure's ``savefig``, a Pillow image's ``save`` (given its format)."""
    buffer = io.BytesIO()
    save(buffer)
    return write_atomic(path, buffer.getvalue())


def read_text(path: str | Path) -> str:
    """A run file's text (UTF-8); other bytes in its place (a binary planted there, a damaged
    disk) are an ``SsrlError`` naming the file, never a decoding traceback."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SsrlError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from e
