"""Measuring a model or a video: ``vsr eval`` and ``vsr psnr``.

- ``_items``: the one evaluation item loader (layout detection, HR/LR pairs with modcrop, clip frames,
  degraded and compressed clips);
- ``_results``: the result records (:class:`EvalResult`, :class:`PsnrReport`), which reports read
  without importing the engines;
- ``_evaluate``: :func:`evaluate` (a model beside bicubic under a protocol) and :func:`score_frames`
  (``vsr psnr``: two videos or frame folders, frame by frame);
- ``_report``: their text tables, CSV, JSON, plots and HTML pages.

Names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

_LAZY: dict[str, str] = {
    "evaluate": "vsr.evaluation._evaluate",
    "score_frames": "vsr.evaluation._evaluate",
    "CodecCache": "vsr.evaluation._items",
    "detect_layout": "vsr.evaluation._items",
    "item_pair": "vsr.evaluation._items",
    "Layout": "vsr.evaluation._items",
    "format_eval": "vsr.evaluation._report",
    "format_psnr_report": "vsr.evaluation._report",
    "write_eval_report": "vsr.evaluation._report",
    "write_psnr_report": "vsr.evaluation._report",
    "ClipSummary": "vsr.evaluation._results",
    "EvalResult": "vsr.evaluation._results",
    "ItemScore": "vsr.evaluation._results",
    "Summary": "vsr.evaluation._results",
}

if TYPE_CHECKING:
    from vsr.evaluation._evaluate import evaluate as evaluate, score_frames as score_frames
    from vsr.evaluation._items import (
        CodecCache as CodecCache,
        detect_layout as detect_layout,
        item_pair as item_pair,
        Layout as Layout,
    )
    from vsr.evaluation._report import (
        format_eval as format_eval,
        format_psnr_report as format_psnr_report,
        write_eval_report as write_eval_report,
        write_psnr_report as write_psnr_report,
    )
    from vsr.evaluation._results import (
        ClipSummary as ClipSummary,
        EvalResult as EvalResult,
        ItemScore as ItemScore,
        Summary as Summary,
    )


__getattr__, __dir__ = lazy_attributes("vsr.evaluation", _LAZY, globals())

__all__ = [
    "ClipSummary",
    "CodecCache",
    "detect_layout",
    "EvalResult",
    "evaluate",
    "format_eval",
    "format_psnr_report",
    "item_pair",
    "ItemScore",
    "Layout",
    "score_frames",
    "Summary",
    "write_eval_report",
    "write_psnr_report",
]
