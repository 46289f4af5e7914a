"""A 1 GiB artifact goes up and comes back down through the server while the server's resident memory
grows by less than 64 MiB: uploads and downloads are streamed, never buffered.

The body is generated on the fly (nothing 1 GiB large is held by the test either); its SHA-256 is
computed while generating and compared with the SHA-256 of the streamed download and of the stored
file. Peak RSS is read from VmHWM after resetting it (/proc/<pid>/clear_refs) and, as a fallback,
from VmRSS sampled during the transfer.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import requests

from itest_helpers import proc_status_kib, reset_peak_rss

pytestmark = pytest.mark.hokusai_only

A = "/api/2.0/mlflow-artifacts/artifacts"
SIZE = 1024 ** 3
CHUNK = 1024 * 1024
LIMIT_KIB = 64 * 1024


def chunk(i: int) -> bytes:
    """Deterministic, non-repeating-per-chunk content (a header with the index, then a pattern)."""
    head = f"chunk {i:08d} ".encode()
    body = bytes((i * 7 + j) & 0xFF for j in range(256))
    return (head + body * (CHUNK // 256))[:CHUNK]


class Body:
    """A file-like body of SIZE bytes with a length (so requests sends Content-Length, like the
    client uploading an open file) that hashes what it hands out."""

    def __init__(self):
        self.i = 0
        self.cur = b""
        self.off = 0
        self.sent = 0
        self.sha = hashlib.sha256()

    def __len__(self):
        return SIZE

    def read(self, n: int = -1) -> bytes:
        if self.off >= len(self.cur):
            if self.i * CHUNK >= SIZE:
                return b""
            self.cur, self.off = chunk(self.i), 0
            self.i += 1
        end = len(self.cur) if n is None or n < 0 else self.off + n
        out = self.cur[self.off:end]
        self.off += len(out)
        self.sha.update(out)
        self.sent += len(out)
        return out


def generator(sha):
    for i in range(SIZE // CHUNK):
        c = chunk(i)
        sha.update(c)
        yield c


class PeakRss:
    """Peak resident set size of `pid` during a `with` block, relative to its RSS at entry."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()

    def __enter__(self):
        self.hwm_reset = reset_peak_rss(self.pid)
        self.baseline = proc_status_kib(self.pid, "VmRSS")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            try:
                self.samples.append(proc_status_kib(self.pid, "VmRSS"))
            except (OSError, AssertionError):
                return
            self._stop.wait(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        peaks = list(self.samples)
        if self.hwm_reset:
            peaks.append(proc_status_kib(self.pid, "VmHWM"))
        self.growth_kib = max(peaks, default=self.baseline) - self.baseline
        return False


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_1_gib_artifact_streams_through_with_bounded_memory(fresh_server, framing):
    srv = fresh_server("hokusai")
    api = srv.api()
    exp = api.create_experiment()
    run_id = api.ok(api.post("/runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
    rel = f"{exp}/{run_id}/artifacts/big/blob.bin"
    url = f"{srv.url}{A}/{rel}"
    stored = srv.artifacts_dir / rel
    try:
        # Warm up the code paths (first-use allocations are not the transfer's fault).
        assert srv.http.put(f"{srv.url}{A}/{exp}/{run_id}/artifacts/warm.bin", data=b"w" * CHUNK,
                            timeout=60).status_code == 200
        assert srv.http.get(f"{srv.url}{A}/{exp}/{run_id}/artifacts/warm.bin", timeout=60).content == b"w" * CHUNK

        sha_up = hashlib.sha256()
        with PeakRss(srv.pid) as up:
            if framing == "content-length":
                body = Body()
                r = srv.http.put(url, data=body, headers={"Content-Type": "application/octet-stream"}, timeout=600)
                assert body.sent == SIZE
                sha_up = body.sha
            else:
                r = srv.http.put(url, data=generator(sha_up), headers={"Content-Type": "application/octet-stream"},
                                 timeout=600)
        assert r.status_code == 200, r.text[:500]
        assert stored.stat().st_size == SIZE

        listing = srv.http.get(f"{srv.url}{A}", params={"path": f"{exp}/{run_id}/artifacts/big"}, timeout=60).json()
        assert listing == {"files": [{"path": "blob.bin", "is_dir": False, "file_size": SIZE}]}

        sha_down, received = hashlib.sha256(), 0
        with PeakRss(srv.pid) as down:
            with srv.http.get(url, stream=True, timeout=600) as resp:
                assert resp.status_code == 200
                for piece in resp.iter_content(CHUNK):
                    sha_down.update(piece)
                    received += len(piece)
        assert received == SIZE
        assert sha_down.hexdigest() == sha_up.hexdigest()

        sha_disk = hashlib.sha256()
        with stored.open("rb") as f:
            for piece in iter(lambda: f.read(8 * CHUNK), b""):
                sha_disk.update(piece)
        assert sha_disk.hexdigest() == sha_up.hexdigest()

        assert up.growth_kib < LIMIT_KIB, (
            f"server RSS grew by {up.growth_kib / 1024:.1f} MiB during the 1 GiB upload ({framing})")
        assert down.growth_kib < LIMIT_KIB, (
            f"server RSS grew by {down.growth_kib / 1024:.1f} MiB during the 1 GiB download")
    finally:
        # Never leave a gigabyte behind in the retained pytest temp dirs.
        try:
            srv.http.delete(url, timeout=60)
        except requests.RequestException:
            pass
        if stored.exists():
            stored.unlink()
