"""Path and location safety of every artifact route and of client-chosen locations
(security principles 3-5; spec 3.7, 3.9, 3.10).

A module-wide server (of the --target kind) gets a world: experiments, runs with artifacts, a
registered model version, a logged model, and symlinks planted INSIDE its artifact root that point
OUTSIDE it. Sentinel files live outside the server's data directory; every test checks that they are
unchanged, that no response carried their content, and that no file appeared outside the data
directory. Requests go out on raw sockets so that nothing normalises `..`, `%2e`, `\\` or NUL.

Most refusals are Hokusai-only: the real server answers 400 for `..` but follows symlinks, accepts
backslashes and NULs, redirects `//`, and serves any well-formed path under its destination.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests

from itest_helpers import (
    REPO_ROOT,
    RawResponse,
    ServerProcess,
    raw_request,
    tree_snapshot,
    unique,
)

# The world plants symlinks inside a local artifact root (S3 keys have none); the S3 leg's path
# refusals are the same code (ValidateArtifactPath runs before any repository).
pytestmark = pytest.mark.local_artifacts_only

A = "/api/2.0/mlflow-artifacts/artifacts"
M = "/api/2.0/mlflow"
REFUSAL_CODES = ("INVALID_PARAMETER_VALUE", "PERMISSION_DENIED", "BAD_REQUEST")
PASSWD_MARKERS = (b"root:x:0:0", b"root:*:0:0", b"/bin/bash", b"/usr/sbin/nologin")
hokusai_only = pytest.mark.hokusai_only


# --------------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------------


def _ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, f"{resp.request.method} {resp.url} -> {resp.status_code} {resp.text[:300]}"
    return resp.json() if resp.content.strip() else {}


@pytest.fixture(scope="module")
def world(target, tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    marker = f"HOKUSAI-SENTINEL-{uuid.uuid4().hex}"
    outside = tmp_path_factory.mktemp("safety-outside")
    sentinels = {outside / "secret.txt": f"{marker} top\n".encode(),
                 outside / "artifacts" / "secret.txt": f"{marker} nested\n".encode(),
                 outside / "dir" / "inner.txt": f"{marker} inner\n".encode()}
    for path, content in sentinels.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)

    srv = ServerProcess(target, tmp_path_factory.mktemp("safety-server"))
    srv.start()
    try:
        api = srv.api()
        s = srv.session()  # carries the admin key (none for the real server)

        def put(path: str, data: bytes) -> None:
            _ok(s.put(f"{srv.url}{A}/{path}", data=data, timeout=30))

        exp = api.create_experiment(unique("safety"))
        exp2 = api.create_experiment(unique("safety-other"))

        def new_run(exp_id: str) -> str:
            return _ok(api.post("/runs/create", {"experiment_id": exp_id}))["run"]["info"]["run_id"]

        run = new_run(exp)
        R = f"{exp}/{run}/artifacts"
        put(f"{R}/ok.txt", b"ok-content")
        put(f"{R}/model/MLmodel", b"flavors: {}\n")
        put(f"{R}/sub/inner.txt", b"inner-content")
        run_linked = new_run(exp)      # its whole run directory will be a symlink to `outside`
        run_art_linked = new_run(exp)  # its `artifacts` directory will be a symlink to `outside`
        run_other_exp = new_run(exp2)

        model = unique("safety-model")
        _ok(api.post("/registered-models/create", {"name": model}))
        _ok(api.post("/model-versions/create", {"name": model, "source": f"runs:/{run}/model", "run_id": run}))

        logged = None
        r = api.post("/logged-models", {"experiment_id": exp, "name": "model", "source_run_id": run})
        if r.status_code == 200:
            info = r.json()["model"]["info"]
            assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/models/{info['model_id']}/artifacts", info
            L = f"{exp}/models/{info['model_id']}/artifacts"
            put(f"{L}/MLmodel", b"logged: model\n")
            logged = SimpleNamespace(id=info["model_id"], root=L)

        # Symlinks inside the artifact root that point outside it (re-planted before every test).
        art = srv.artifacts_dir
        links = {}
        for root in [R, f"{R}/model"] + ([logged.root] if logged else []):
            links[art / root / "link_dir"] = outside
            links[art / root / "link_file"] = outside / "secret.txt"
        links[art / exp / run_linked] = outside
        (art / exp / run_art_linked).mkdir()
        links[art / exp / run_art_linked / "artifacts"] = outside

        excluded_dirs = tuple(p for p in base.iterdir() if p.is_dir() and p.name.startswith(
            ("hokusai-", "mlflow-", "safety-server", "server-logs")))
        ns = SimpleNamespace(
            srv=srv, api=api, port=srv.port, target=target, marker=marker.encode(), outside=outside,
            exp=exp, exp2=exp2, run=run, R=R, run_linked=run_linked, run_art_linked=run_art_linked,
            run_other_exp=run_other_exp, model=model, logged=logged, base=base,
            excluded_dirs=excluded_dirs,
            rel_out=os.path.relpath(outside, art / R),          # from the run root to `outside`
            rel_out_from_art=os.path.relpath(outside, art),     # from the destination root
            escape_names=[], links=links, sentinels=sentinels,
        )
        plant_links(ns)
        yield ns
    finally:
        problem = srv.graceful_stop_problem()
    leftovers = find_escape_files(ns, ns.escape_names)
    assert not leftovers, f"files written outside the artifact roots: {leftovers}"
    if problem:
        pytest.fail(problem)


def plant_links(world) -> None:
    for link, target in world.links.items():
        if os.path.islink(link) and os.readlink(link) == str(target):
            continue
        if os.path.islink(link) or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        os.symlink(target, link)


@pytest.fixture(autouse=True)
def _links_in_place(request):
    """Every test starts with all planted symlinks in place (a test may have removed or replaced one)
    and with fresh snapshots of the trees outside the data directory (so one escape fails one test)."""
    if "world" in request.fixturenames:
        world = request.getfixturevalue("world")
        plant_links(world)
        for path, content in world.sentinels.items():  # repair what an earlier (failed) test broke
            if path.is_symlink() or not path.is_file() or path.read_bytes() != content:
                if path.is_symlink() or path.is_file():
                    path.unlink()
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(content)
        world.outside_before = tree_snapshot(world.outside)
        world.base_before = tree_snapshot(world.base, exclude=world.excluded_dirs + (world.outside,))
    yield


def escape_name(world) -> str:
    name = f"hk-escape-{uuid.uuid4().hex[:12]}"
    world.escape_names.append(name)
    return name


def find_escape_files(world, names) -> list[str]:
    """Every file or directory named like one of `names` in the places a traversal could reach."""
    names = set(names)
    if not names:
        return []
    found = []
    shallow = [Path("/"), Path("/etc"), Path("/tmp"), Path("/root"), REPO_ROOT, REPO_ROOT / "tests",
               REPO_ROOT / "tests" / "integration", Path.cwd(), world.srv.workdir, world.base.parent]
    for d in shallow:
        try:
            found += [str(d / n) for n in os.listdir(d) if n in names]
        except OSError:
            pass
    for dirpath, dirnames, filenames in os.walk(world.base, followlinks=False):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if n in names]
    return sorted(set(found))


def assert_world_intact(world, escape: str | None = None) -> None:
    for path, content in world.sentinels.items():
        assert path.is_file() and not path.is_symlink(), f"sentinel {path} was removed or replaced"
        assert path.read_bytes() == content, f"sentinel {path} was modified"
    assert tree_snapshot(world.outside) == world.outside_before, "files outside the data dir changed"
    now = tree_snapshot(world.base, exclude=world.excluded_dirs + (world.outside,))
    new = sorted(set(now) - set(world.base_before))
    assert not new, f"new files appeared outside the server's data directory: {new[:20]}"
    if escape:
        assert find_escape_files(world, [escape]) == [], "a write escaped the artifact root"


def assert_refused(world, resp: RawResponse, statuses=(400, 403), codes=REFUSAL_CODES) -> dict:
    assert resp.status in statuses, (
        f"expected a refusal {statuses}, got {resp.status} {resp.error or ''} {resp.body[:300]!r}")
    assert (resp.header("content-type") or "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("error_code") in codes, body
    assert body.get("message"), body
    assert_no_leak(world, resp)
    return body


def assert_no_leak(world, resp: RawResponse) -> None:
    assert world.marker not in resp.body, "a sentinel file outside the artifact root was served"
    if resp.status == 200:
        assert b"inner.txt" not in resp.body and b"secret.txt" not in resp.body, \
            f"an outside directory was listed: {resp.body[:300]!r}"
    for m in PASSWD_MARKERS:
        assert m not in resp.body, "/etc/passwd was served"


def send(world, method: str, target: str, body: bytes = b"") -> RawResponse:
    headers = {"Content-Type": "application/octet-stream"} if method == "PUT" else None
    return raw_request(world.port, method, target, body=body, headers=headers)


# --------------------------------------------------------------------------------------------------
# Positive controls: the same routes serve legitimate paths (so a refusal below means something)
# --------------------------------------------------------------------------------------------------


def test_controls_legitimate_paths_are_served(world):
    R, run = world.R, world.run
    r = send(world, "GET", f"{A}/{R}/ok.txt")
    assert (r.status, r.body) == (200, b"ok-content")
    r = send(world, "GET", f"{A}?path={R}/sub")
    assert r.status == 200 and r.json()["files"] == [{"path": "inner.txt", "is_dir": False, "file_size": 13}]
    r = send(world, "GET", f"{M}/artifacts/list?run_id={run}&path=sub")
    assert r.status == 200 and [f["path"] for f in r.json()["files"]] == ["sub/inner.txt"]
    r = send(world, "GET", f"/get-artifact?run_id={run}&path=sub/inner.txt")
    assert (r.status, r.body) == (200, b"inner-content")
    r = send(world, "PUT", f"{A}/{R}/written.txt", b"w")
    assert r.status == 200
    r = send(world, "DELETE", f"{A}/{R}/written.txt")
    assert r.status == 200
    assert_world_intact(world)


@hokusai_only
def test_controls_model_version_artifact_route(world):
    # (The real server cannot serve mlflow-artifacts sources on this UI route: 500.)
    r = send(world, "GET", f"/model-versions/get-artifact?name={world.model}&version=1&path=MLmodel")
    assert (r.status, r.body) == (200, b"flavors: {}\n")


@pytest.mark.requires_mlflow3_server
@pytest.mark.parametrize("prefix", [
    pytest.param("/api/2.0/mlflow", marks=hokusai_only),  # the real server has `files` on ajax only
    "/ajax-api/2.0/mlflow",
])
def test_controls_logged_model_artifact_routes(world, prefix):
    assert world.logged, "the server did not create a logged model"
    lm = world.logged.id
    r = send(world, "GET", f"{prefix}/logged-models/{lm}/artifacts/directories")
    assert r.status == 200
    assert {f["path"] for f in r.json()["files"]} >= {"MLmodel"}
    r = send(world, "GET", f"{prefix}/logged-models/{lm}/artifacts/files?artifact_file_path=MLmodel")
    assert (r.status, r.body) == (200, b"logged: model\n")


# --------------------------------------------------------------------------------------------------
# PUT / GET / DELETE /api/2.0/mlflow-artifacts/artifacts/<path>
# --------------------------------------------------------------------------------------------------


def proxy_attacks(world, leaf: str) -> dict[str, str]:
    """Request-target suffixes (after `/artifacts/`) that try to reach `outside/<leaf>`."""
    R, rel = world.R, world.rel_out
    abs_leaf = str(world.outside / leaf)
    return {
        "dotdot": f"{R}/{rel}/{leaf}",
        "dotdot-encoded": f"{R}/{rel.replace('..', '%2e%2e')}/{leaf}",
        "dotdot-encoded-upper": f"{R}/{rel.replace('..', '%2E%2E')}/{leaf}",
        "dotdot-encoded-slashes": f"{R}%2F{rel.replace('/', '%2F')}%2F{leaf}",
        "dotdot-from-destination-root": f"{world.rel_out_from_art}/{leaf}",
        "dotdot-after-ok-file": f"{R}/ok.txt/../{rel}/{leaf}",
        "absolute": "/" + abs_leaf.lstrip("/"),
        "absolute-encoded": "%2F" + abs_leaf.lstrip("/"),
        "backslash": f"{R}/" + f"{rel}/{leaf}".replace("/", "\\"),
        "backslash-encoded": f"{R}/" + f"{rel}/{leaf}".replace("/", "%5C"),
        "nul-then-dotdot": f"{R}/x%00/{rel}/{leaf}",
        "symlink-dir": f"{R}/link_dir/{leaf}",
        "symlink-dir-in-model": f"{R}/model/link_dir/{leaf}",
        "symlinked-run-dir": f"{world.exp}/{world.run_linked}/artifacts/{leaf}",
        "symlinked-artifacts-dir": f"{world.exp}/{world.run_art_linked}/artifacts/{leaf}",
    }


# (attack, methods on which the real server also refuses with 400)
SHARED_REFUSALS = {
    "dotdot": {"GET", "PUT", "DELETE"},
    "dotdot-encoded": {"GET", "PUT", "DELETE"},
    "dotdot-encoded-upper": {"GET", "PUT", "DELETE"},
}
ATTACK_IDS = list(proxy_attacks(SimpleNamespace(R="R", rel_out="..", outside=Path("/o"), rel_out_from_art="..",
                                                exp="e", run_linked="l", run_art_linked="a"), "x"))


def proxy_cases():
    for method in ("GET", "PUT", "DELETE"):
        for attack in ATTACK_IDS:
            marks = [] if method in SHARED_REFUSALS.get(attack, ()) else [hokusai_only]
            yield pytest.param(method, attack, id=f"{method}-{attack}", marks=marks)


@pytest.mark.parametrize("method,attack", list(proxy_cases()))
def test_proxy_route_refuses_traversal(world, method, attack):
    leaf = escape_name(world) if method == "PUT" else "secret.txt"
    suffix = proxy_attacks(world, leaf)[attack]
    resp = send(world, method, f"{A}/{suffix}", b"OVERWRITTEN" if method == "PUT" else b"")
    assert_world_intact(world, escape=leaf if method == "PUT" else None)
    assert_refused(world, resp)


@hokusai_only
@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("where", ["run-root", "model-dir"])
def test_proxy_route_refuses_symlinked_file(world, method, where):
    root = world.R if where == "run-root" else f"{world.R}/model"
    resp = send(world, method, f"{A}/{root}/link_file", b"OVERWRITTEN" if method == "PUT" else b"")
    assert_world_intact(world)
    assert_refused(world, resp)
    assert os.path.islink(world.srv.artifacts_dir / root / "link_file"), "the refused PUT replaced the link"


@hokusai_only
@pytest.mark.parametrize("suffix", ["ok.txt%00.png", "ok.txt%00", "%00", "sub%00/inner.txt"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_proxy_route_refuses_nul(world, method, suffix):
    resp = send(world, method, f"{A}/{world.R}/{suffix}", b"OVERWRITTEN" if method == "PUT" else b"")
    assert_refused(world, resp)
    assert (world.srv.artifacts_dir / world.R / "ok.txt").read_bytes() == b"ok-content"
    assert (world.srv.artifacts_dir / world.R / "sub" / "inner.txt").read_bytes() == b"inner-content"
    assert_world_intact(world)


@hokusai_only
def test_delete_of_a_planted_symlink_never_touches_its_target(world):
    """Deleting the link itself may remove the link or be refused; the outside tree must survive."""
    api = world.api
    run = _ok(api.post("/runs/create", {"experiment_id": world.exp}))["run"]["info"]["run_id"]
    root = f"{world.exp}/{run}/artifacts"
    _ok(world.srv.http.put(f"{world.srv.url}{A}/{root}/keep.txt", data=b"k", timeout=30))
    os.symlink(world.outside, world.srv.artifacts_dir / root / "victim_dir")
    os.symlink(world.outside / "secret.txt", world.srv.artifacts_dir / root / "victim_file")
    for name in ("victim_dir", "victim_file"):
        resp = send(world, "DELETE", f"{A}/{root}/{name}")
        assert resp.status in (200, 400, 403), resp.body[:300]
        assert_world_intact(world)
    resp = send(world, "DELETE", f"{A}/{root}")  # the whole run root, links inside
    assert resp.status in (200, 400, 403), resp.body[:300]
    assert_world_intact(world)


WELL_FORMED_OUTSIDE_ROOTS = [
    "999/abc/artifacts/x",
    "0/x",
    "0/",
    "999/abc/artifacts",
    "{exp}/x",
    "{exp}/{run}/x",
    "{exp}/{run}/meta.yaml",
    "{exp}/{run}/artifactsx/x",
    "{exp2}/{run}/artifacts/ok.txt",                 # the run exists, in another experiment
    "{exp}/{run_other_exp}/artifacts/x",
    "{exp}/models/m-00000000000000000000000000000000/artifacts/x",
    "{exp2}/models/{logged}/artifacts/MLmodel",      # the logged model exists, in another experiment
    "{exp}/models/{logged}/x",
]


def fill(world, template: str) -> str:
    return template.format(exp=world.exp, exp2=world.exp2, run=world.run, run_other_exp=world.run_other_exp,
                           logged=world.logged.id if world.logged else "m-" + "1" * 32)


@hokusai_only
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("template", WELL_FORMED_OUTSIDE_ROOTS)
def test_well_formed_paths_outside_every_root_are_403(world, method, template):
    path = fill(world, template)
    before = tree_snapshot(world.srv.artifacts_dir)
    resp = send(world, method, f"{A}/{path}", b"NEW" if method == "PUT" else b"")
    assert_refused(world, resp, statuses=(403,), codes=("PERMISSION_DENIED",))
    assert tree_snapshot(world.srv.artifacts_dir) == before, "the refused request changed the artifact store"
    assert_world_intact(world)


# --------------------------------------------------------------------------------------------------
# GET /api/2.0/mlflow-artifacts/artifacts?path=
# --------------------------------------------------------------------------------------------------


def list_attacks(world) -> dict[str, str]:
    """Query values (already percent-encoded as sent) for the listing route."""
    R, rel = world.R, world.rel_out
    return {
        "dotdot": f"{R}/{rel}",
        "dotdot-encoded": f"{R}/{rel.replace('..', '%2e%2e')}",
        "dotdot-double-slash": f"{R}//{rel}",
        "dotdot-from-destination-root": world.rel_out_from_art,
        "absolute": quote(str(world.outside), safe="/"),
        "absolute-etc": "/etc",
        "backslash": f"{R}%5C{rel.replace('/', '%5C')}",
        "nul": f"{R}/sub%00",
        "symlink-dir": f"{R}/link_dir",
        "symlink-file": f"{R}/link_file",
        "symlink-dir-in-model": f"{R}/model/link_dir",
        "symlinked-run-dir": f"{world.exp}/{world.run_linked}/artifacts",
        "symlinked-artifacts-dir": f"{world.exp}/{world.run_art_linked}/artifacts",
    }


LIST_SHARED = {"dotdot", "dotdot-encoded", "absolute", "absolute-etc", "dotdot-from-destination-root"}
LIST_IDS = list(list_attacks(SimpleNamespace(R="R", rel_out="..", outside=Path("/o"), rel_out_from_art="..",
                                             exp="e", run_linked="l", run_art_linked="a")))


@pytest.mark.parametrize("attack", [pytest.param(a, marks=[] if a in LIST_SHARED else [hokusai_only])
                                    for a in LIST_IDS])
def test_listing_route_refuses_traversal(world, attack):
    resp = send(world, "GET", f"{A}?path={list_attacks(world)[attack]}")
    assert_world_intact(world)
    assert_refused(world, resp)


@hokusai_only
@pytest.mark.parametrize("query", ["", "?path=", "?path=0/", "?path=0", "?path=999/abc/artifacts/x", "?path={exp}",
                                   "?path={exp}/{run}", "?path={exp2}/{run}/artifacts", "?path={exp}/models",
                                   "?path={exp2}/models/{logged}/artifacts"])
def test_listing_outside_every_root_is_403(world, query):
    resp = send(world, "GET", A + fill(world, query))
    assert_refused(world, resp, statuses=(403,), codes=("PERMISSION_DENIED",))
    assert world.run.encode() not in resp.body  # nothing about other roots is revealed


# --------------------------------------------------------------------------------------------------
# Routes taking a path relative to a run / model version / logged model root
# --------------------------------------------------------------------------------------------------


def relative_attacks(world, depth_to_dest: int) -> dict[str, str]:
    """Query values for `path`-style parameters, relative to a root `depth_to_dest` levels below the
    artifacts destination."""
    up = "/".join([".."] * depth_to_dest)
    rel = f"{up}/{world.rel_out_from_art}"
    return {
        "dotdot": f"{rel}/secret.txt",
        "dotdot-encoded": f"{rel.replace('..', '%2e%2e')}/secret.txt",
        "dotdot-short": "..",
        "dotdot-inside-then-out": f"sub/../../{rel}/secret.txt",
        "absolute": quote(str(world.outside / "secret.txt"), safe="/"),
        "absolute-etc-passwd": "/etc/passwd",
        "backslash": quote(f"{rel}/secret.txt".replace("/", "\\"), safe=""),
        "nul": "ok.txt%00.png",
        "symlink-file": "link_file",
        "symlink-dir": "link_dir",
        "symlink-dir-file": "link_dir/secret.txt",
    }


REL_IDS = list(relative_attacks(SimpleNamespace(rel_out_from_art="..", outside=Path("/o")), 1))
# Refused with 400 by the real server too:
REL_SHARED = {"dotdot", "dotdot-encoded", "dotdot-short", "dotdot-inside-then-out", "absolute",
              "absolute-etc-passwd"}


def rel_params(shared: set[str]):
    return [pytest.param(a, marks=[] if a in shared else [hokusai_only]) for a in REL_IDS]


@pytest.mark.parametrize("attack", rel_params(REL_SHARED))
def test_run_artifacts_list_refuses_traversal(world, attack):
    value = relative_attacks(world, 3)[attack]
    resp = send(world, "GET", f"{M}/artifacts/list?run_id={world.run}&path={value}")
    assert_world_intact(world)
    assert_refused(world, resp)


@pytest.mark.parametrize("attack", rel_params(REL_SHARED))
def test_get_artifact_refuses_traversal(world, attack):
    value = relative_attacks(world, 3)[attack]
    resp = send(world, "GET", f"/get-artifact?run_id={world.run}&path={value}")
    assert_world_intact(world)
    assert_refused(world, resp)


@hokusai_only
@pytest.mark.parametrize("attack", rel_params(set()))
def test_model_version_get_artifact_refuses_traversal(world, attack):
    value = relative_attacks(world, 4)[attack]  # the version's root is <run root>/model
    resp = send(world, "GET", f"/model-versions/get-artifact?name={world.model}&version=1&path={value}")
    assert_world_intact(world)
    assert_refused(world, resp)


@pytest.mark.requires_mlflow3_server
@pytest.mark.parametrize("attack", rel_params(REL_SHARED - {"dotdot-short", "dotdot-inside-then-out"}))
def test_logged_model_directories_refuses_traversal(world, attack):
    assert world.logged, "the server did not create a logged model"
    value = relative_attacks(world, 4)[attack]
    resp = send(world, "GET", f"{M}/logged-models/{world.logged.id}/artifacts/directories"
                              f"?artifact_directory_path={value}")
    assert_world_intact(world)
    assert_refused(world, resp)


@pytest.mark.requires_mlflow3_server
@pytest.mark.parametrize("prefix", [pytest.param("/api/2.0/mlflow", marks=hokusai_only), "/ajax-api/2.0/mlflow"])
@pytest.mark.parametrize("attack", rel_params(REL_SHARED - {"dotdot-short", "dotdot-inside-then-out"}))
def test_logged_model_files_refuses_traversal(world, prefix, attack):
    assert world.logged, "the server did not create a logged model"
    value = relative_attacks(world, 4)[attack]
    resp = send(world, "GET", f"{prefix}/logged-models/{world.logged.id}/artifacts/files?artifact_file_path={value}")
    assert_world_intact(world)
    assert_refused(world, resp)


@hokusai_only
@pytest.mark.parametrize("attack", ["dotdot-short", "dotdot-inside-then-out"])
@pytest.mark.parametrize("route", ["directories", "files"])
def test_logged_model_routes_refuse_short_traversal(world, route, attack):
    # (The real server lists its own experiment directory for these.)
    assert world.logged, "the server did not create a logged model"
    value = relative_attacks(world, 4)[attack]
    key = "artifact_directory_path" if route == "directories" else "artifact_file_path"
    resp = send(world, "GET", f"{M}/logged-models/{world.logged.id}/artifacts/{route}?{key}={value}")
    assert_world_intact(world)
    assert_refused(world, resp)


@hokusai_only
@pytest.mark.parametrize("model_id", ["%2e%2e", "..%2F..%2Fetc", "m-..", "..", "%2Fetc"])
def test_logged_model_id_in_the_path_cannot_traverse(world, model_id):
    resp = send(world, "GET", f"{M}/logged-models/{model_id}/artifacts/files?artifact_file_path=passwd")
    assert resp.status in (400, 403, 404), resp.body[:300]
    assert_no_leak(world, resp)
    assert_world_intact(world)


# --------------------------------------------------------------------------------------------------
# Client-chosen locations: model-version `source`, experiment `artifact_location`
# --------------------------------------------------------------------------------------------------


def bad_sources(world) -> dict[str, str]:
    R = world.R
    return {
        "file-etc": "file:///etc",
        "file-etc-passwd": "file:///etc/passwd",
        "file-outside": f"file://{world.outside}/secret.txt",
        "local-etc-passwd": "/etc/passwd",
        "local-etc": "/etc",
        "local-outside": str(world.outside),
        "local-inside-data-dir": str(world.srv.artifacts_dir / R / "model"),
        "relative": "model",
        "s3": "s3://x",
        "s3-key": "s3://bucket/key/model",
        "gs": "gs://bucket/model",
        "http": "http://evil/x",
        "https": "https://evil.example/model",
        "http-self": f"http://127.0.0.1:{world.port}{A}/{R}/model",
        "ftp": "ftp://evil/model",
        "runs-dotdot": f"runs:/{world.run}/../..",
        "runs-dotdot-deep": f"runs:/{world.run}/model/../../..",
        "runs-absolute": f"runs:/{world.run}//etc/passwd",
        "mlflow-artifacts-dotdot": "mlflow-artifacts:/../../etc",
        "mlflow-artifacts-dotdot-in-run": f"mlflow-artifacts:/{R}/../../../x",
        "mlflow-artifacts-other-exp": f"mlflow-artifacts:/{world.exp2}/{world.run}/artifacts/model",
        "mlflow-artifacts-no-root": f"mlflow-artifacts:/{world.exp}/x",
        "mlflow-artifacts-unknown-run": "mlflow-artifacts:/999/abc/artifacts/model",
        "mlflow-artifacts-authority": f"mlflow-artifacts://evil:80/{R}/model",
        "models-missing-logged": "models:/m-00000000000000000000000000000000",
        "models-missing-name": f"models:/{unique('nope')}/1",
        "models-dotdot": "models:/../../etc",
    }


SOURCE_SHARED = {"file-etc", "file-etc-passwd", "file-outside", "local-etc-passwd", "local-etc", "local-outside",
                 "s3", "runs-dotdot", "runs-dotdot-deep", "mlflow-artifacts-dotdot"}
SOURCE_IDS = list(bad_sources(SimpleNamespace(R="R", outside=Path("/o"), port=1, run="r", exp="e", exp2="f",
                                              srv=SimpleNamespace(artifacts_dir=Path("/a")))))


def version_numbers(world) -> list[str]:
    body = _ok(world.api.get("/model-versions/search", {"filter": f"name = '{world.model}'"}))
    return sorted(v["version"] for v in body.get("model_versions", []))


@pytest.mark.parametrize("which", [pytest.param(s, marks=[] if s in SOURCE_SHARED else [hokusai_only])
                                   for s in SOURCE_IDS])
def test_model_version_source_must_be_issued_by_this_server(world, which):
    before = version_numbers(world)
    resp = world.api.post("/model-versions/create", {"name": world.model, "source": bad_sources(world)[which],
                                                     "run_id": world.run})
    assert resp.status_code in (400, 403), f"{resp.status_code} {resp.text[:300]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json")
    assert resp.json().get("error_code") in REFUSAL_CODES, resp.text
    assert world.marker.decode() not in resp.text
    assert version_numbers(world) == before, "a version was created from a refused source"
    assert_world_intact(world)


@pytest.mark.parametrize("source", [
    "runs", "mlflow-artifacts", "models-name-version",
    pytest.param("logged-model", marks=pytest.mark.requires_mlflow3_server),
])
def test_model_version_sources_this_server_issued_are_accepted(world, source):
    """Controls for the refusals above."""
    if source == "logged-model":
        assert world.logged, "the server did not create a logged model"
    value = {"runs": f"runs:/{world.run}/model",
             "mlflow-artifacts": f"mlflow-artifacts:/{world.R}/model",
             "logged-model": f"models:/{world.logged.id}" if world.logged else None,
             "models-name-version": f"models:/{world.model}/1"}[source]
    name = unique("ok-source")
    _ok(world.api.post("/registered-models/create", {"name": name}))
    body = {"name": name, "source": value, "run_id": world.run}
    if source == "logged-model":
        body["model_id"] = world.logged.id  # newer real servers insist, as the 3.x client always sends it
    mv = _ok(world.api.post("/model-versions/create", body))["model_version"]
    assert (mv["version"], mv["status"]) == ("1", "READY")
    uri = _ok(world.api.get("/model-versions/get-download-uri", {"name": name, "version": "1"}))["artifact_uri"]
    assert uri


@hokusai_only
@pytest.mark.parametrize("location", [
    "file:///etc", "/etc", "/tmp/x", "s3://x", "s3://bucket/prefix", "http://evil/x", "https://evil/x",
    "mlflow-artifacts:/0", "mlflow-artifacts:/../../x", "../../x", "relative/dir", "ftp://evil/x",
])
def test_experiment_artifact_location_is_refused(world, location):
    # docs/decisions/0001-client-chosen-artifact-location.md
    name = unique("loc")
    resp = world.api.post("/experiments/create", {"name": name, "artifact_location": location})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert world.api.get("/experiments/get-by-name", {"experiment_name": name}).status_code == 404
    assert_world_intact(world)
