"""The report of an output directory (see :mod:`forgetlab.report.page`); split into one module per concept next."""

from forgetlab.report.page import (
    FIGURE_FORMATS,
    REPORT,
    check_formats,
    phase_ends,
    symlog,
    symlog_inverse,
    symlog_ticks,
    write_figures,
    write_report,
)

__all__ = [
    "FIGURE_FORMATS",
    "REPORT",
    "check_formats",
    "phase_ends",
    "symlog",
    "symlog_inverse",
    "symlog_ticks",
    "write_figures",
    "write_report",
]
