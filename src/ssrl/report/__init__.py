"""Plots and the HTML run report (``RUN/report.html``), written at the end of ``ssrl pretrain``
and rebuilt by ``ssrl report RUN``."""

from ssrl.report.run_report import write_report

__all__ = ["write_report"]
