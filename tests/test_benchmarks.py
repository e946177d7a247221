"""Every benchmark script starts: it imports (doing nothing else) and answers ``--help``.

A benchmark that cannot start (an import the library moved, a renamed option) should fail CI, not the next
person who needs its figure. One subprocess runs them all (torch is imported once; the scripts may change the
process's settings), each with ``runpy``: imported under another name (nothing may run or print), then run as
``__main__`` with ``--help`` (argparse's usage, exit 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))

_CHECK_ALL = """
    import contextlib, io, json, runpy, sys, traceback

    results = {}
    for path in sys.argv[1:]:
        out, err, result = io.StringIO(), io.StringIO(), {}
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                runpy.run_path(path, run_name="imported_by_test")
            result["import_output"] = out.getvalue() + err.getvalue()
            out, err = io.StringIO(), io.StringIO()
            sys.argv = [path, "--help"]
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    runpy.run_path(path, run_name="__main__")
                result["exit"] = "returned without exiting"
            except SystemExit as e:
                result["exit"] = e.code or 0
            result["help"] = out.getvalue()
            result["help_stderr"] = err.getvalue()
        except BaseException:  # noqa: BLE001 - reported per script
            result["error"] = traceback.format_exc(limit=-3)
        results[path] = result
    print("RESULTS" + json.dumps(results))
"""


@pytest.fixture(scope="module")
def started() -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(_CHECK_ALL), *map(str, SCRIPTS)], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert "RESULTS" in r.stdout, r.stderr[-3000:]
    return json.loads(r.stdout.rsplit("RESULTS", 1)[1])  # type: ignore[no-any-return]


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 10, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_imports_and_answers_help(script: Path, started: dict[str, dict[str, Any]]) -> None:
    result = started[str(script)]
    assert "error" not in result, f"{script.name} does not start:\n{result.get('error')}"
    assert result["import_output"] == "", f"{script.name} prints when imported: does it run at import time?"
    assert result["exit"] == 0, f"{script.name} --help: exit {result['exit']}\n{result['help_stderr']}"
    assert result["help"].startswith("usage:"), f"{script.name} --help printed no usage:\n{result['help'][:500]}"
