"""Writing a file into a run directory (or beside an export) without ever leaving half of it, or
writing through a link someone planted there.

``write_atomic`` writes to a new temporary file in the same folder (created exclusively, under a
random name, so no existing file or link is opened), flushes it to disk, and renames it over the
target: ``os.replace`` replaces a link at the target rather than following it. A failure (a full
disk, say) removes the temporary file and raises; the target is then as it was.
"""

import os
import tempfile
from pathlib import Path


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
