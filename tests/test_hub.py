"""Official models by name: download, verify, cache, lock and every failure, against a local HTTP server.

The server is started by each test on 127.0.0.1 (http.server in a thread); no
test touches a real network. The "published" file served is a random-init
EDSR-baseline x2 saved by the test, named with its own SHA-256 prefix.
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vsr
from vsr.cli import cli
from vsr.errors import DownloadError
from vsr.io import read_image, write_image
from vsr.models import OFFICIAL_WEIGHTS, get_model, load_model, official_file
from vsr.models import _hub, _official


@dataclass
class Server:
    """What the local server serves: ``/good/<file>``, ``/wronghash/``, ``/truncated/``, ``/missing/``, ``/stall/``,
    ``/slow/`` (in ten pieces) and ``/half/`` (half the body, then nothing until ``release``; ``half_sent`` is set then)."""

    body: bytes
    url: str = ""
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    half_sent: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def server() -> Iterator[Server]:
    buf = io.BytesIO()
    # A real EDSR-baseline x2 (random init) so that --model edsr_baseline loads with the strict preset check.
    torch.manual_seed(0)
    torch.save(get_model("edsr_baseline", scale=2).state_dict(), buf)
    state = Server(body=buf.getvalue())

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            mode = self.path.split("/")[1]
            if mode == "missing":
                self.send_error(404, "Not Found")
                return
            if mode == "stall":
                state.release.wait(30)
                return
            body = state.body if mode in ("good", "truncated", "slow", "half") else b"not the file the name promises" * 1000
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) + (1000 if mode == "truncated" else 0)))
            self.end_headers()
            if mode == "slow":  # in pieces, so that a second process arrives while the first is downloading
                for i in range(0, len(body), len(body) // 10 + 1):
                    self.wfile.write(body[i : i + len(body) // 10 + 1])
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            if mode == "half":  # a download in progress, for as long as the test needs
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                state.half_sent.set()
                state.release.wait(30)
                return
            self.wfile.write(body[: len(body) // 2] if mode == "truncated" else body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def registry(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """Point edsr_baseline_x2 at the local server's file (its own hash in its name) and the cache at tmp_path."""
    prefix = hashlib.sha256(server.body).hexdigest()[:8]
    entry = replace(OFFICIAL_WEIGHTS["edsr_baseline_x2"], file=f"edsr_baseline_x2-{prefix}.pt")
    monkeypatch.setitem(OFFICIAL_WEIGHTS, "edsr_baseline_x2", entry)
    monkeypatch.setattr(_official, "OFFICIAL_URL_BASE", f"{server.url}/good/")
    monkeypatch.setenv("VSR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VSR_OFFLINE", raising=False)
    return entry.file, tmp_path / "home" / "checkpoints"


def _serve_from(monkeypatch: pytest.MonkeyPatch, server: Server, mode: str) -> None:
    monkeypatch.setattr(_official, "OFFICIAL_URL_BASE", f"{server.url}/{mode}/")


def _cache_files(cache: Path) -> list[str]:
    """Files in the cache other than lock files (which hold no data)."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) if cache.exists() else []


def test_cache_folder_follows_vsr_home_then_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VSR_HOME", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert _hub.cache_dir() == tmp_path / "th" / "hub" / "checkpoints"
    monkeypatch.setenv("VSR_HOME", str(tmp_path / "vh"))
    assert _hub.cache_dir() == tmp_path / "vh" / "checkpoints"


def test_names_resolve_to_the_published_files() -> None:
    assert _official.official_name("edsr", 2) == "edsr_x2"
    assert _official.official_name("edsr_baseline", 4) == "edsr_baseline_x4"
    assert _official.official_name("mdsr", 3) == "mdsr"
    assert OFFICIAL_WEIGHTS["edsr_x4"].file == "edsr_x4-4f62e9ef.pt"
    assert _official.official_url("mdsr_baseline") == "https://cv.snu.ac.kr/research/EDSR/models/mdsr_baseline-a00cab12.pt"
    with pytest.raises(vsr.UnsupportedError, match="Unknown official model 'edsr_x'. Available: edsr, edsr_baseline"):
        _official.official_name("edsr_x", 2)
    with pytest.raises(vsr.UnsupportedError, match="edsr needs a scale of 2, 3 or 4"):
        _official.official_name("edsr", 8)


def test_fetch_verifies_caches_and_reuses(server: Server, registry: tuple[str, Path]) -> None:
    name, cache = registry
    path = official_file("edsr_baseline", 2, progress=False)
    assert path == cache / name and path.read_bytes() == server.body
    assert _cache_files(cache) == [name]
    assert official_file("edsr_baseline_x2", progress=False) == path
    assert len(server.requests) == 1  # the second call used the cache
    model = load_model("edsr_baseline", scale=2, offline=True)
    assert vsr.models.count_parameters(model) == 1_369_859


def test_offline_never_touches_the_network(server: Server, registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    name, cache = registry
    monkeypatch.setenv("VSR_OFFLINE", "1")
    with pytest.raises(DownloadError, match=rf"{name} is not in the cache .* offline mode .*forbids downloading it; "
                                            rf"download {server.url}/good/{name} by hand .* save it as {cache / name}"):
        load_model("edsr_baseline", scale=2)
    assert server.requests == []
    monkeypatch.delenv("VSR_OFFLINE")
    with pytest.raises(DownloadError, match="offline mode"):
        official_file("edsr_baseline", 2, offline=True)
    assert server.requests == []


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("wronghash", r"does not match its name: SHA-256 [0-9a-f]{12}\.\.\., expected [0-9a-f]{8}\.\.\. \(the download was deleted\)"),
        ("truncated", r"was cut short \(\d+ of \d+ bytes\)"),
        ("missing", r"HTTP error 404 Not Found fetching"),
    ],
)
def test_bad_downloads_leave_nothing_in_the_cache(
    server: Server, registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, mode: str, message: str
) -> None:
    name, cache = registry
    _serve_from(monkeypatch, server, mode)
    with pytest.raises(DownloadError, match=message) as info:
        official_file("edsr_baseline", 2, progress=False)
    text = str(info.value)
    assert "\n" not in text and f"{server.url}/{mode}/{name}" in text and f"save it as {cache / name}" in text
    assert _cache_files(cache) == []


def test_a_stalling_server_times_out(server: Server, registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    name, cache = registry
    _serve_from(monkeypatch, server, "stall")
    with pytest.raises(DownloadError, match=r"timed out after 0.3 s without data from the server fetching http://127"):
        official_file("edsr_baseline", 2, progress=False, timeout=0.3)
    assert _cache_files(cache) == []


def test_no_network_and_dns_failures(registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    name, cache = registry
    with socket.socket() as s:  # a port nobody listens on: connection refused, without leaving the machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(_official, "OFFICIAL_URL_BASE", f"http://127.0.0.1:{port}/")
    with pytest.raises(DownloadError, match=rf"connection refused fetching http://127.0.0.1:{port}/{name}; check the connection"):
        official_file("edsr_baseline", 2, progress=False)

    def no_dns(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(_hub.urllib.request, "urlopen", no_dns)
    with pytest.raises(DownloadError, match=r"cannot resolve the host name \(no network or DNS failure\) fetching"):
        official_file("edsr_baseline", 2, progress=False)
    assert _cache_files(cache) == []


def test_a_full_disk_leaves_no_partial_file(server: Server, registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    name, cache = registry

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_hub.os, "fsync", full)
    with pytest.raises(DownloadError, match=rf"disk full writing {cache} while fetching .*set VSR_HOME to another disk"):
        official_file("edsr_baseline", 2, progress=False)
    assert _cache_files(cache) == []


def test_a_corrupt_cached_file_is_reported_not_used(server: Server, registry: tuple[str, Path]) -> None:
    name, cache = registry
    cache.mkdir(parents=True)
    (cache / name).write_bytes(b"placed by hand, wrong")
    with pytest.raises(DownloadError, match=rf"{name}: SHA-256 .* does not match .* delete it to download it again"):
        official_file("edsr_baseline", 2, progress=False)


def test_a_second_fetcher_waits_for_the_first_and_reuses_its_file(
    server: Server, registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, cache = registry
    url = _official.official_url("edsr_baseline_x2")
    cache.mkdir(parents=True)
    waiting = threading.Event()
    warning = _hub.log.warning

    def note(*args: object) -> None:
        waiting.set()
        warning(*args)

    monkeypatch.setattr(_hub.log, "warning", note)
    results: list[Path] = []
    with _hub._locked(cache / name, url):  # we are "the other process", mid-download
        t = threading.Thread(target=lambda: results.append(official_file("edsr_baseline", 2, progress=False)))
        t.start()
        assert waiting.wait(30), "the second fetcher did not wait for the lock"
        assert not (cache / name).exists()
        (cache / name).write_bytes(server.body)
    t.join(30)
    assert results == [cache / name] and server.requests == []


def test_concurrent_fetches_download_once(server: Server, registry: tuple[str, Path]) -> None:
    name, cache = registry
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(official_file("edsr_baseline", 2, progress=False))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [cache / name] * 3
    assert len(server.requests) == 1 and _cache_files(cache) == [name]


_CHILD = """
import sys
from dataclasses import replace
from vsr._core import _files
from vsr.models import OFFICIAL_WEIGHTS, _official, official_file
if sys.argv[3:] == ["named"]:  # as on a file system without O_TMPFILE: a locked hidden partial file
    _files._O_TMPFILE = 0
_official.OFFICIAL_URL_BASE = sys.argv[1]
OFFICIAL_WEIGHTS["edsr_baseline_x2"] = replace(OFFICIAL_WEIGHTS["edsr_baseline_x2"], file=sys.argv[2])
print(official_file("edsr_baseline", 2, progress=False))
"""


def test_two_processes_fetching_at_once_download_once(server: Server, registry: tuple[str, Path]) -> None:
    name, cache = registry
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, f"{server.url}/slow/", name], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == [str(cache / name)] * 2
    assert len(server.requests) == 1 and _cache_files(cache) == [name]
    assert (cache / name).read_bytes() == server.body


@pytest.mark.parametrize("writer", ["unnamed", "named"])
def test_a_killed_download_leaves_nothing_at_the_destination(server: Server, registry: tuple[str, Path], writer: str) -> None:
    name, cache = registry
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, f"{server.url}/half/", name, writer], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.half_sent.wait(300), "the child never started downloading"
        partials = [n for n in _cache_files(cache) if n != name]
        assert len(partials) == (1 if writer == "named" else 0) and not (cache / name).exists()
    finally:
        proc.kill()  # SIGKILL mid-download: no handler, no finally, runs in the child
        proc.communicate(timeout=60)
    assert not (cache / name).exists()
    # The next fetch downloads again; a hidden partial the killed run left is removed (its lock died with it).
    assert official_file("edsr_baseline", 2, progress=False) == cache / name
    assert _cache_files(cache) == [name] and (cache / name).read_bytes() == server.body


def test_an_interrupted_download_leaves_nothing_at_the_destination(
    server: Server, registry: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, cache = registry

    class CtrlC:
        def update(self, n: int) -> None:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    monkeypatch.setattr(_hub, "_bar", lambda total, label: CtrlC())
    with pytest.raises(KeyboardInterrupt):
        official_file("edsr_baseline", 2, progress=True)
    assert _cache_files(cache) == [] and len(server.requests) == 1


def test_cli_models_fetch_list_and_upscale_by_name(
    server: Server, registry: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, cache = registry
    runner = CliRunner()
    listed = runner.invoke(cli, ["models"])
    assert listed.exit_code == 0, listed.output
    assert "edsr_baseline_x2  x2          1.37M params  not cached  published: DIV2K-val x2 34.61 dB" in listed.output
    assert "Set5 x2 38.11, Set14 x2 33.92" in listed.output

    offline = runner.invoke(cli, ["models", "--fetch", "--offline", "edsr_baseline_x2"])
    assert offline.exit_code == 1 and "offline mode" in offline.output and server.requests == []

    fetched = runner.invoke(cli, ["models", "--fetch", "edsr_baseline_x2"])
    assert fetched.exit_code == 0, fetched.output
    assert f"edsr_baseline_x2: {cache / name}" in fetched.output
    assert "edsr_baseline_x2  x2          1.37M params  cached" in runner.invoke(cli, ["models"]).output

    img = tmp_path / "in.png"
    write_image(img, np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8))
    up = runner.invoke(cli, ["upscale", str(img), "--model", "edsr_baseline", "--scale", "2", "--offline", "-q"])
    assert up.exit_code == 0, up.output
    assert read_image(tmp_path / "in_x2.png").shape == (24, 20, 3)

    wrong = runner.invoke(cli, ["upscale", str(img), "--model", "edsr", "--scale", "2", "--offline", "-q"])
    assert wrong.exit_code == 1
    assert wrong.output.count("\n") == 1 and "edsr_x2-0edfb8a3.pt is not in the cache" in wrong.output
    assert "Traceback" not in wrong.output


def test_plain_upscale_never_needs_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr(_hub.urllib.request, "urlopen", no_network)
    img = tmp_path / "in.png"
    write_image(img, np.zeros((8, 8, 3), np.uint8))
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(cli, ["upscale", str(img), "--scale", "2", "-q"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.parametrize("env", [{}, {"TORCH_HOME": "/tmp/th"}, {"XDG_CACHE_HOME": "/tmp/xdg"}], ids=["default", "TORCH_HOME", "XDG"])
def test_cache_dir_without_torch_is_torch_hubs(env: dict[str, str]) -> None:
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "XDG_CACHE_HOME", "VSR_HOME")}
    code = ("import sys; from vsr.models import cache_dir; light = cache_dir(); assert 'torch' not in sys.modules; "
            "import torch.hub, pathlib; print(light == pathlib.Path(torch.hub.get_dir()) / 'checkpoints')")
    r = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
    assert r.stdout.strip() == "True", r.stderr
