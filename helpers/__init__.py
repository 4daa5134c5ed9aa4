"""Helpers for the repurchase & CLV workbook: one module per concern, a flat public API.

Notebooks call ``open_run`` first; everything else is reached through the modules
(``helpers.audit``, ``helpers.plots``, ...).
"""

from helpers.config import ParamsError, load_params
from helpers.report import Run, open_run
from helpers.sources import SourceError

__all__ = ["ParamsError", "Run", "SourceError", "load_params", "open_run"]
