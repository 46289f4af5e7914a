"""A 1 GiB artifact goes up and comes back down through the gateway to a real `mlflow server`
(proxied artifacts, `--artifacts-destination`) while the gateway's resident memory grows by less
than 64 MiB: the gateway streams both ways and buffers neither.

The body is generated on the fly and hashed while it is sent (test_large_artifact.py's `Body`); the
SHA-256 of the streamed download and of the file the upstream stored must match it. The gateway's
peak RSS is read from VmHWM after resetting it and from VmRSS sampled every 20 ms during each
transfer (`PeakRss`). Runs in the pinned pass only (scripts/test.sh): about five minutes with the
sanitized binary on the 2-core development machine while other builds ran (docs/testing.md
"Gateway mode").

The upstream runs under gunicorn (`--gunicorn-opts`), not under MLflow 3's default uvicorn: there,
MLflow's WSGI bridge took a request body at about 0.5 MB/s on the 2-core development machine
(412 MB in 15 minutes, measured under load), so a 1 GiB upload to the stock default server would
take some 40 minutes on its own. Under gunicorn the same server stored 256 MiB in about 6 s and
served it back in 2 s.
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from itest_helpers import ServerProcess
from test_large_artifact import CHUNK, LIMIT_KIB, SIZE, Body, PeakRss

pytestmark = pytest.mark.hokusai_only  # the Hokusai binary in gateway mode

A = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    up = ServerProcess("mlflow", tmp_path_factory.mktemp("gw-large-upstream"),
                       ["--gunicorn-opts", "--timeout 1200"], upstream=False)
    up.start()
    gw = ServerProcess("gateway", tmp_path_factory.mktemp("gw-large"), upstream=up)
    try:
        gw.start()
        yield gw, up
    finally:
        try:
            if gw.alive():
                gw.stop_gracefully_or_fail()
        finally:
            up.stop()


def test_1_gib_artifact_streams_through_the_gateway_with_bounded_memory(pair):
    gw, up = pair
    api = gw.api()
    exp = api.create_experiment()
    run_id = api.ok(api.post("/runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
    rel = f"{exp}/{run_id}/artifacts/big/blob.bin"
    url = f"{gw.url}{A}/{rel}"
    stored = up.artifacts_dir / rel
    try:
        # Warm up the forwarding path and the upstream pool (first-use allocations are not the
        # transfer's fault).
        warm = f"{gw.url}{A}/{exp}/{run_id}/artifacts/warm.bin"
        assert gw.http.put(warm, data=b"w" * CHUNK, timeout=120).status_code == 200
        assert gw.http.get(warm, timeout=120).content == b"w" * CHUNK

        body = Body()
        with PeakRss(gw.pid) as upload:
            r = gw.http.put(url, data=body, headers={"Content-Type": "application/octet-stream"}, timeout=1200)
        assert r.status_code == 200, r.text[:500]
        assert body.sent == SIZE
        assert stored.stat().st_size == SIZE, "the upstream did not store the whole file"

        listing = gw.http.get(f"{gw.url}{A}", params={"path": f"{exp}/{run_id}/artifacts/big"}, timeout=120).json()
        assert listing == {"files": [{"path": "blob.bin", "is_dir": False, "file_size": SIZE}]}, listing

        sha_down, received = hashlib.sha256(), 0
        with PeakRss(gw.pid) as download:
            with gw.http.get(url, stream=True, timeout=1200) as resp:
                assert resp.status_code == 200, resp.text[:300]
                for piece in resp.iter_content(CHUNK):
                    sha_down.update(piece)
                    received += len(piece)
        assert received == SIZE
        assert sha_down.hexdigest() == body.sha.hexdigest(), "the download differs from the upload"

        sha_disk = hashlib.sha256()
        with open(stored, "rb") as f:
            for piece in iter(lambda: f.read(8 * CHUNK), b""):
                sha_disk.update(piece)
        assert sha_disk.hexdigest() == body.sha.hexdigest(), "the upstream stored different bytes"

        assert upload.growth_kib < LIMIT_KIB, (
            f"gateway RSS grew by {upload.growth_kib / 1024:.1f} MiB during the 1 GiB upload")
        assert download.growth_kib < LIMIT_KIB, (
            f"gateway RSS grew by {download.growth_kib / 1024:.1f} MiB during the 1 GiB download")
    finally:
        # Never leave a gigabyte behind in the retained pytest temp dirs.
        try:
            gw.http.delete(url, timeout=120)
        except requests.RequestException:
            pass
        if stored.exists():
            stored.unlink()
