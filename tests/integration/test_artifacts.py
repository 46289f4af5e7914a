"""Run artifacts through the proxied artifact service (`mlflow-artifacts`), with the stock client and
with raw HTTP: upload, list, download, overwrite, delete, interrupted uploads, server-info.

Shared by both targets: the real `mlflow server` is started with `--artifacts-destination`, and so is
Hokusai (`server.artifacts_dir`); both store a run's files under `<dest>/<exp>/<run>/artifacts/`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.artifacts import download_artifacts

from itest_helpers import auth_line, raw_request, read_response, unique

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
BINARY = bytes(range(256)) * 64 + b"\x00\r\n\xff"  # every byte value, CR/LF, NUL


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def new_run(api) -> tuple[str, str, str]:
    """(experiment_id, run_id, repository root '<exp>/<run>/artifacts') of a fresh run."""
    exp_id = api.create_experiment()
    info = api.ok(api.post("/runs/create", {"experiment_id": exp_id}))["run"]["info"]
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{info['run_id']}/artifacts", info
    return exp_id, info["run_id"], f"{exp_id}/{info['run_id']}/artifacts"


def put(server, path: str, data: bytes, content_type: str = "application/octet-stream") -> requests.Response:
    return server.http.put(f"{server.url}{ARTIFACTS}/{path}", data=data,
                           headers={"Content-Type": content_type}, timeout=60)


def get(server, path: str) -> requests.Response:
    return server.http.get(f"{server.url}{ARTIFACTS}/{path}", timeout=60)


def listing(server, path: str) -> dict:
    r = server.http.get(f"{server.url}{ARTIFACTS}", params={"path": path}, timeout=30)
    assert r.status_code == 200, f"list {path!r} -> {r.status_code} {r.text[:300]}"
    return r.json()


def listed(server, path: str) -> dict[str, tuple[bool, int | None]]:
    return {f["path"]: (f.get("is_dir", False), f.get("file_size")) for f in listing(server, path).get("files", [])}


# --------------------------------------------------------------------------------------------------
# The client journey (spec 6(b)): log_artifact, log_artifacts, list_artifacts, download_artifacts
# --------------------------------------------------------------------------------------------------


def test_log_list_and_download_artifacts_with_the_client(tracking_uri, client, server, tmp_path):
    exp = mlflow.set_experiment(unique("artifacts"))
    src = tmp_path / "src"
    write_tree(src, {
        "notes.txt": b"hello artifacts\n",
        "blob.bin": BINARY,
        "outdir/metrics.csv": b"step,loss\n0,1.0\n1,0.5\n",
        "outdir/nested/deeper/weights.bin": os.urandom(70_000),
        "outdir/nested/empty.txt": b"",
        "outdir/with space.txt": b"spaced\n",
    })
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src / "notes.txt"))
        mlflow.log_artifact(str(src / "blob.bin"), artifact_path="figs")
        mlflow.log_artifacts(str(src / "outdir"), artifact_path="res")
        mlflow.log_text("inline text", "inline/t.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "inline/d.json")
    run_id = run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp.experiment_id}/{run_id}/artifacts"

    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("figs", True), ("inline", True), ("notes.txt", False), ("res", True)]
    assert [f.file_size for f in top if not f.is_dir] == [len(b"hello artifacts\n")]
    res = client.list_artifacts(run_id, "res")
    assert [(f.path, f.is_dir) for f in res] == [
        ("res/metrics.csv", False), ("res/nested", True), ("res/with space.txt", False)]
    deeper = client.list_artifacts(run_id, "res/nested/deeper")
    assert [(f.path, f.is_dir, f.file_size) for f in deeper] == [("res/nested/deeper/weights.bin", False, 70_000)]
    # A file path and a missing path list as empty (the client uses that to tell files from dirs).
    assert client.list_artifacts(run_id, "notes.txt") == []
    assert client.list_artifacts(run_id, "no/such/dir") == []

    # Whole run, one directory, one file -- byte for byte.
    whole = Path(download_artifacts(run_id=run_id, artifact_path="", dst_path=str(tmp_path / "all")))
    expected = {
        "notes.txt": b"hello artifacts\n",
        "figs/blob.bin": BINARY,
        **{f"res/{k[len('outdir/'):]}": v for k, v in read_tree(src).items() if k.startswith("outdir/")},
        "inline/t.txt": b"inline text",
    }
    got = read_tree(whole)
    assert got.pop("inline/d.json")  # json formatting is the client's business
    assert got == expected
    one_dir = Path(download_artifacts(run_id=run_id, artifact_path="res/nested", dst_path=str(tmp_path / "d")))
    assert read_tree(one_dir) == {"deeper/weights.bin": expected["res/nested/deeper/weights.bin"], "empty.txt": b""}
    one_file = Path(download_artifacts(artifact_uri=f"runs:/{run_id}/figs/blob.bin", dst_path=str(tmp_path / "f")))
    assert one_file.read_bytes() == BINARY
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/inline/t.txt") == "inline text"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/inline/d.json") == {"a": 1, "b": [1, 2]}

    # The bytes are where the artifact URI says, under the server's artifacts destination.
    stored = server.artifacts_dir / exp.experiment_id / run_id / "artifacts"
    assert (stored / "figs" / "blob.bin").read_bytes() == BINARY
    assert (stored / "res" / "nested" / "deeper" / "weights.bin").stat().st_size == 70_000


def test_list_artifacts_rest_shapes(server, api):
    _, run_id, root = new_run(api)
    for rel, data in {"a.txt": b"aaa", "d/b.txt": b"bb", "d/e/c.txt": b"c"}.items():
        assert put(server, f"{root}/{rel}", data).status_code == 200
    # mlflow-artifacts list: basenames, is_dir always present, file_size for files.
    body = listing(server, root)
    assert sorted(body["files"], key=lambda f: f["path"]) == [
        {"path": "a.txt", "is_dir": False, "file_size": 3}, {"path": "d", "is_dir": True}]
    assert listed(server, f"{root}/d") == {"b.txt": (False, 2), "e": (True, None)}
    # A file, or a missing path, lists as {} -- not an error.
    assert listing(server, f"{root}/a.txt") == {}
    assert listing(server, f"{root}/d/e/c.txt") == {}
    assert listing(server, f"{root}/missing") == {}
    # Tracking-side list: paths relative to the run root, plus root_uri.
    r = api.ok(api.get("/artifacts/list", {"run_id": run_id}))
    assert r["root_uri"] == f"mlflow-artifacts:/{root}"
    assert sorted((f["path"], f["is_dir"]) for f in r["files"]) == [("a.txt", False), ("d", True)]
    r = api.ok(api.get("/artifacts/list", {"run_id": run_id, "path": "d"}))
    assert sorted((f["path"], f["is_dir"]) for f in r["files"]) == [("d/b.txt", False), ("d/e", True)]
    r = api.ok(api.get("/artifacts/list", {"run_id": run_id, "path": "a.txt"}))
    assert r.get("files", []) == []


def test_download_returns_exact_bytes_and_attachment_headers(server, api):
    _, _, root = new_run(api)
    assert put(server, f"{root}/x/blob.bin", BINARY).status_code == 200
    r = get(server, f"{root}/x/blob.bin")
    assert r.status_code == 200
    assert r.content == BINARY
    assert "blob.bin" in r.headers.get("Content-Disposition", ""), r.headers
    assert r.headers["Content-Disposition"].startswith("attachment"), r.headers


def test_upload_of_existing_path_overwrites(server, api, client, tracking_uri, target, tmp_path):
    # (tracking_uri: a 2.x MlflowClient resolves mlflow-artifacts: against the global tracking URI.)
    _, run_id, root = new_run(api)
    assert put(server, f"{root}/same.txt", b"first version, long").status_code == 200
    r = put(server, f"{root}/same.txt", b"second")
    assert r.status_code == 200
    if target == "hokusai":  # spec 3.10: {} (the newest real server answers with an empty body)
        assert r.json() == {}
    assert get(server, f"{root}/same.txt").content == b"second"
    assert listed(server, root) == {"same.txt": (False, 6)}
    # Through the client as well.
    f = tmp_path / "ow.txt"
    f.write_bytes(b"third, longer than before")
    client.log_artifact(run_id, str(f))
    f.write_bytes(b"third!!")
    client.log_artifact(run_id, str(f))  # same path again
    assert get(server, f"{root}/{f.name}").content == b"third!!"
    assert [(a.path, a.file_size) for a in client.list_artifacts(run_id)] == [(f.name, 7), ("same.txt", 6)]


def test_delete_artifact_file_and_directory(server, api, target):
    _, _, root = new_run(api)
    for rel in ("keep.txt", "gone.txt", "dir/a.txt", "dir/sub/b.txt"):
        assert put(server, f"{root}/{rel}", rel.encode()).status_code == 200
    r = server.http.delete(f"{server.url}{ARTIFACTS}/{root}/gone.txt", timeout=30)
    assert r.status_code == 200, r.text
    if target == "hokusai":  # spec 3.10: {} (the newest real server answers with an empty body)
        assert r.json() == {}
    assert listed(server, root) == {"keep.txt": (False, 8), "dir": (True, None)}
    assert get(server, f"{root}/gone.txt").status_code != 200
    r = server.http.delete(f"{server.url}{ARTIFACTS}/{root}/dir", timeout=30)
    assert r.status_code == 200, r.text
    assert listed(server, root) == {"keep.txt": (False, 8)}
    assert listing(server, f"{root}/dir") == {}
    assert get(server, f"{root}/keep.txt").content == b"keep.txt"


@pytest.mark.hokusai_only
@pytest.mark.native_only  # our artifact store; through the gateway the real server answers 500
def test_non_ascii_artifact_names_round_trip(tracking_uri, client, tmp_path):
    # (The real server answers 500 when downloading a file with a non-ASCII name.)
    src = tmp_path / "u"
    files = {"caf\u00e9/\u65e5\u672c.txt": "\u65e5\u672c\n".encode(), "\u00e9\u00e8 x.bin": BINARY}
    write_tree(src, files)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(src), "u")
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id, "u")) == [
        "u/caf\u00e9", "u/\u00e9\u00e8 x.bin"]
    out = Path(download_artifacts(run_id=run.info.run_id, artifact_path="u", dst_path=str(tmp_path / "o")))
    assert read_tree(out) == files


@pytest.mark.hokusai_only
@pytest.mark.native_only  # our artifact store; through the gateway the real server answers 500
def test_download_of_missing_artifact_is_404_json(server, api):
    # (The real server answers 500 INTERNAL_ERROR here, which the client retries for minutes.)
    _, _, root = new_run(api)
    r = get(server, f"{root}/nothing-here.txt")
    assert r.status_code == 404, r.text
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_log_artifact_to_the_default_experiment_run(tracking_uri, client, server, tmp_path):
    f = tmp_path / "model.txt"
    f.write_text("default experiment")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f), "x")
    assert run.info.experiment_id == "0"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "x")] == ["x/model.txt"]
    assert (server.artifacts_dir / "0" / run.info.run_id / "artifacts" / "x" / "model.txt").read_text() == \
        "default experiment"


# --------------------------------------------------------------------------------------------------
# Interrupted uploads leave nothing visible
# --------------------------------------------------------------------------------------------------


def run_dir_entries(server, root: str) -> list[str]:
    """Every name (files and directories, hidden ones included) under a run root on disk."""
    base = server.artifacts_dir / root
    if not base.exists():
        return []
    return sorted(str(p.relative_to(base)) for p in base.rglob("*"))


def wait_for_disk_state(server, root: str, expected: list[str], timeout: float = 15.0) -> list[str]:
    """Polls until the run root on disk holds exactly `expected` (the server has noticed the broken
    connection and discarded the partial upload) or the deadline passes; returns the last state."""
    deadline = time.monotonic() + timeout
    state = run_dir_entries(server, root)
    while state != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        state = run_dir_entries(server, root)
    return state


def interrupted_put(server, path: str, chunked: bool) -> None:
    """Starts a PUT of 8 MiB, sends 1 MiB of it, closes the socket."""
    target = f"{ARTIFACTS}/{path}"
    head = (f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{auth_line(server.port)}"
            f"Content-Type: application/octet-stream\r\n")
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        body = b"100000\r\n" + b"P" * 0x100000 + b"\r\n" + b"100000\r\n" + b"P" * 1000
    else:
        head += f"Content-Length: {8 * 1024 * 1024}\r\n\r\n"
        body = b"P" * (1024 * 1024)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(head.encode() + body)
    finally:
        sock.close()


@pytest.mark.parametrize("chunked", [
    pytest.param(False, id="content-length"),
    # The real server leaves an empty file behind for a broken chunked upload.
    # native_only: through the gateway the upstream's file handling decides what a broken upload leaves.
    pytest.param(True, id="chunked", marks=[pytest.mark.hokusai_only, pytest.mark.native_only]),
])
def test_interrupted_upload_leaves_no_visible_file(server, api, target, chunked):
    _, _, root = new_run(api)
    assert put(server, f"{root}/existing.bin", b"v1").status_code == 200
    interrupted_put(server, f"{root}/partial.bin", chunked)
    interrupted_put(server, f"{root}/existing.bin", chunked)  # must not replace or truncate v1

    state = wait_for_disk_state(server, root, ["existing.bin"])
    assert state == ["existing.bin"], f"the broken uploads left files behind: {state}"
    assert listed(server, root) == {"existing.bin": (False, 2)}
    assert listing(server, f"{root}/partial.bin") == {}
    r = get(server, f"{root}/partial.bin")
    assert r.status_code != 200
    if target == "hokusai":
        assert r.status_code == 404, r.text
    assert get(server, f"{root}/existing.bin").content == b"v1"

    # The same path can be uploaded normally afterwards.
    assert put(server, f"{root}/partial.bin", b"complete").status_code == 200
    assert get(server, f"{root}/partial.bin").content == b"complete"
    assert listed(server, root) == {"existing.bin": (False, 2), "partial.bin": (False, 8)}


def test_upload_with_content_length_on_a_kept_alive_connection(server, api):
    """Two uploads and a download on one connection: each body is delimited exactly."""
    _, _, root = new_run(api)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    try:
        for name, data in (("one.bin", b"1" * 1000), ("two.bin", BINARY)):
            sock.sendall(
                f"PUT {ARTIFACTS}/{root}/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_line(server.port)}"
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
            resp = read_response(sock)
            assert resp.status == 200, resp.raw[:300]
        sock.sendall(f"GET {ARTIFACTS}/{root}/two.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_line(server.port)}\r\n"
                     .encode())
        resp = read_response(sock)
        assert resp.status == 200
        assert resp.body == BINARY
    finally:
        sock.close()
    assert listed(server, root) == {"one.bin": (False, 1000), "two.bin": (False, len(BINARY))}


def test_many_small_files_round_trip(tracking_uri, client, tmp_path):
    src = tmp_path / "many"
    files = {f"d{i % 7}/f{i:03d}.txt": hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(120)}
    write_tree(src, files)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(src), "many")
    out = Path(download_artifacts(run_id=run.info.run_id, artifact_path="many", dst_path=str(tmp_path / "out")))
    assert read_tree(out) == files


# --------------------------------------------------------------------------------------------------
# server-info (probed by newer clients with a 3 s timeout and no retries)
# --------------------------------------------------------------------------------------------------


@pytest.mark.requires_mlflow3_server
def test_server_info_answers_json(server):
    r = server.http.get(server.url + "/api/3.0/mlflow/server-info", timeout=3)  # the client's own timeout
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert isinstance(body, dict)
    assert body.get("workspaces_enabled", False) is False
    # Multipart must not be advertised unless it is implemented (spec 3.10 / 8.12).
    assert body.get("multipart_uploads_enabled", False) is False


@pytest.mark.hokusai_only
@pytest.mark.native_only  # our server-info; through the gateway it is the upstream's (no multipart_* fields)
def test_server_info_raw(server):
    resp = raw_request(server.port, "GET", "/api/3.0/mlflow/server-info", timeout=3)
    assert resp.status == 200
    body = resp.json()
    assert body["store_type"]
    assert body["multipart_uploads_enabled"] is False
    assert body["multipart_downloads_enabled"] is False

