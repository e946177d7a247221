"""The stage record of an experiment (``<out_dir>/stages.json``): what each stage did, and whether it is finished.

A finished stage is stored with a fingerprint of what it did (its training config, or the models and settings of a
comparison); :func:`finished` tells a re-run to skip it, and refuses (naming the stage) to mix it with the results
of a changed recipe.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from vsr._core import write_text
from vsr.errors import ConfigError

__all__ = ["RECORD", "StageOutcome", "digest", "finished", "now", "read_record", "say", "write_record"]

#: The stage record's file name in an experiment folder.
RECORD = "stages.json"


@dataclass(frozen=True)
class StageOutcome:
    """What a run did with one stage: ``ran``, ``resumed`` or ``skipped`` (finished earlier)."""

    name: str
    status: Literal["ran", "resumed", "skipped"]
    detail: str = ""


def digest(obj: Any) -> str:
    """A short fingerprint of a JSON-able object (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_record(path: Path) -> dict[str, Any]:
    """The stage record at ``path`` (an empty one when there is none yet).

    Raises:
        ConfigError: the file is not a stage record.
    """
    if not path.exists():
        return {"stages": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: unreadable stage record ({e}); delete it or rerun with --force") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise ConfigError(f"{path}: not a vsr experiment stage record; delete it or rerun with --force")
    return data


def write_record(path: Path, data: dict[str, Any]) -> None:
    """Write the stage record atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def say(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def finished(record: dict[str, Any] | None, fingerprint: str, name: str, manifest: Path) -> bool:
    """True when ``record`` is a finished stage with this fingerprint.

    Raises:
        ConfigError: the stage finished with another fingerprint (a changed recipe).
    """
    if not record or record.get("status") != "done":
        return False
    if record.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"{manifest}: stage {name!r} was finished with a different recipe; rerun with --force to redo the "
            "experiment, or choose another experiment.out_dir (--out-dir) to keep both"
        )
    return True
