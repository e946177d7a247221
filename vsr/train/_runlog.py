"""The run log: ``log.jsonl`` (every event) and ``log.csv`` (fixed columns) in the run folder, and console lines."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vsr._core import write_text

__all__ = ["LOG_COLUMNS", "RunLog", "say"]

#: The columns of ``log.csv``; ``log.jsonl`` holds every value of every event.
LOG_COLUMNS = ("iteration", "event", "loss", "lr", "psnr", "ssim", "it_per_s", "elapsed_s")


class RunLog:
    """``log.jsonl`` and ``log.csv`` of a run folder, opened for appending; written by rank 0 only.

    ``keep_until`` (when resuming) first drops the rows logged after that
    iteration: the resumed run logs them again.
    """

    def __init__(self, run_dir: Path, *, keep_until: int | None) -> None:
        self.jsonl = run_dir / "log.jsonl"
        self.csv = run_dir / "log.csv"
        if keep_until is not None:
            self._truncate(keep_until)
        new_csv = not self.csv.exists()
        self._jf = open(self.jsonl, "a", encoding="utf-8")
        self._cf = open(self.csv, "a", encoding="utf-8", newline="")
        self._cw = csv.DictWriter(self._cf, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        if new_csv:
            self._cw.writeheader()

    def _truncate(self, iteration: int) -> None:
        """Drop rows logged after the checkpoint being resumed (they will be redone)."""
        if self.jsonl.exists():
            rows = [ln for ln in self.jsonl.read_text(encoding="utf-8").splitlines() if ln.strip()]
            keep = [ln for ln in rows if json.loads(ln).get("iteration", 0) <= iteration]
            write_text(self.jsonl, "".join(ln + "\n" for ln in keep))
        if self.csv.exists():
            with open(self.csv, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            with open(self.csv, "w", encoding="utf-8", newline="") as f:
                w = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore")
                w.writeheader()
                w.writerows(r for r in rows if int(r["iteration"] or 0) <= iteration)

    def write(self, event: str, **values: Any) -> None:
        """One event: a JSON line always, a CSV row when it has an iteration (floats to 6 significant digits)."""
        row = {"event": event, **values}
        self._jf.write(json.dumps(row) + "\n")
        self._jf.flush()
        if "iteration" in values:
            self._cw.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
            self._cf.flush()

    def close(self) -> None:
        self._jf.close()
        self._cf.close()


def say(text: str) -> None:
    """A line on stderr that does not break a tqdm bar being drawn."""
    tqdm.write(text, file=sys.stderr)
