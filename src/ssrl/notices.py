"""Decisions a run makes for the user (the working image size, the schedule, the kNN k) are
stated, not silent: ``notice`` logs them on the ``ssrl`` logger at INFO level.

The logger gets one stderr handler the first time it is used, unless the application has
configured it (or the root logger) already, so a terminal and a log file both show each
decision once (from the first process only), on its own line, prefixed ``ssrl:``.
"""

import logging
import os
import sys

LOGGER = logging.getLogger("ssrl")


def notice(message: str) -> None:
    """State a decision the library took (one line; name what it was decided from). Processes
    other than the first of a multi-process run stay silent: each decides the same."""
    if any(os.environ.get(name, "0") != "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK")):
        return
    if not LOGGER.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("ssrl: %(message)s"))
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)
    LOGGER.info(message)
