"""``python -m ssrl`` is the ``ssrl`` command."""

from ssrl.cli import run

run()
