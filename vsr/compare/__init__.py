"""Comparing models: ``vsr compare`` and ``vsr experiment``.

- ``_compare``: :func:`compare_models`, several models on several test sets and conditions;
- ``_results``: the comparison's result records and group statistics;
- ``_report``: its tables, crops, Markdown and HTML report;
- ``_serial``: ``comparison.json``, the comparison as a JSON-ready dict and back;
- ``_output``: the report folder: writing it, and drawing it again from its JSON (``vsr compare --rerender``);
- ``_plots``: its plots (gains over bicubic, temporal errors, PSNR per frame), drawn with ``vsr._core``'s plots;
- ``_recipe``: the experiment recipe and its expansion into training stages (one per model and seed);
- ``_experiment``: :func:`run_experiment`, which trains or resumes the stages, then compares the models;
- ``_curves``: learning curves, the training snapshots scored on the curve sets.

Names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

_LAZY: dict[str, str] = {
    "compare_models": "vsr.compare._compare",
    "format_comparison": "vsr.compare._compare",
    "rerender_report": "vsr.compare._output",
    "write_comparison_report": "vsr.compare._compare",
    "run_experiment": "vsr.compare._experiment",
}

if TYPE_CHECKING:
    from vsr.compare._compare import (
        compare_models as compare_models,
        format_comparison as format_comparison,
        write_comparison_report as write_comparison_report,
    )
    from vsr.compare._experiment import run_experiment as run_experiment
    from vsr.compare._output import rerender_report as rerender_report


__getattr__, __dir__ = lazy_attributes("vsr.compare", _LAZY, globals())

__all__ = ["compare_models", "format_comparison", "rerender_report", "run_experiment", "write_comparison_report"]
