"""Decisions a run makes for the user (the working image size, the schedule, the kNN k) are
stated, not silent: ``notice`` logs them on the ``ssrl`` logger at INFO level.

The logger gets one stderr handler the first time it is used, unless the application has
configured it (or the root logger) already, so a terminal and a log file both show each
decision once (from the first process only), on its own line, prefixed ``ssrl:``.
"""

import logging
import os
import sys
import warnings

LOGGER = logging.getLogger("ssrl")


def launched_as_other_process() -> bool:
    """Whether a launcher (torchrun, SLURM, Lightning's own) started this process as any but the
    first of a run, read from the environment it set, before a process group exists."""
    return any(os.environ.get(name, "0") != "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def notice(message: str) -> None:
    """State a decision the library took (one line; name what it was decided from). Processes
    other than the first of a multi-process run stay silent: each decides the same."""
    if launched_as_other_process():
        return
    if not LOGGER.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("ssrl: %(message)s"))
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)
    LOGGER.info(message)


def quiet_lightning() -> None:
    """Hide Lightning's banners ("GPU available", tips) and internal deprecation notes, for the
    command line and the Python API alike (after Lightning is imported: importing it sets its own
    log level); ``SSRL_DEBUG=1`` (``ssrl --debug``) keeps them."""
    if os.environ.get("SSRL_DEBUG"):
        return
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*(LeafSpec|exists and is not empty).*")


def interactive() -> bool:
    """Whether progress bars are worth drawing: stderr is a terminal or a notebook shows it. In a
    log file a bar is hundreds of carriage returns; the per-epoch lines (``notice``) remain."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules
