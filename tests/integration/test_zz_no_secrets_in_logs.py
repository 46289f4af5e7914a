"""Acceptance 6: no API key secret and no server secret reaches a server log or a data file.

Runs last (test_zz_*). What it checks comes from the harness (itest_helpers):
- every log in the session's log directory (stdout + stderr of every server, stderr of every
  offline `keys` command), wherever the server came from;
- against every key secret the suite saw (minted by the offline CLI, by the key API through the
  harness, or printed by the first-start banner), every server's `auth-secret`, and anything at all
  shaped like a key (so a key minted by a test that did not register it is caught too).

The one legitimate appearance is explicit: the first-start banner test registers its own banner
key as allowed in its own server's log, on exactly that banner line, exactly once. The key is
still checked everywhere else, and anything else on that log is checked as usual.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from itest_helpers import (
    KEY_SHAPE,
    PG_AUTH_SECRET,
    STORE_BACKEND,
    log_exemptions,
    registered_secrets,
    store_dumps,
    session_log_dir,
    started_servers,
)

pytestmark = pytest.mark.hokusai_only


def _mask(secret: str) -> str:
    return secret[:12] + "..." if secret.startswith("hk_") else secret[:6] + "..."


def _hokusai_servers():
    return [s for s in started_servers() if s.kind == "hokusai"]


def _session_files(pattern: str) -> list[Path]:
    """Files named `pattern` in the session's temporary tree (every server's directory, including
    stores only the offline CLI touched) plus those of the servers the harness started."""
    base = session_log_dir().parent
    found = set(base.rglob(pattern))
    for srv in _hokusai_servers():
        found.update(srv.workdir.glob(pattern))
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def _server_secrets() -> dict[str, str]:
    """Content of every server secret file of the session -> where it lives."""
    found: dict[str, str] = {}
    for path in _session_files("auth-secret"):
        content = path.read_text(errors="replace").strip()
        if content:
            found[content] = str(path)
    if STORE_BACKEND == "postgres":
        found[PG_AUTH_SECRET] = "HOKUSAI_AUTH_SECRET (postgres backend)"
    return found


def _needles() -> dict[str, str]:
    """Substrings that must not appear -> what they are. For a key, its random part (40
    characters) also counts: a key logged without its `hk_<env>_` prefix is still a leak."""
    out: dict[str, str] = {}
    for secret, origin in registered_secrets().items():
        out[secret] = f"key {_mask(secret)} ({origin})"
        tail = secret.split("_", 2)[-1]
        if len(tail) >= 40:
            out[tail[:40]] = f"random part of key {_mask(secret)} ({origin})"
    for content, where in _server_secrets().items():
        out[content] = f"server secret of {where}"
    return out


@pytest.fixture(scope="module")
def logs() -> list[Path]:
    log_dir = session_log_dir()
    assert log_dir is not None and log_dir.is_dir(), "the harness set no session log directory"
    if not started_servers():
        pytest.skip("no server was started in this session: nothing to check")
    missing = [str(s.log_path) for s in started_servers()
               if s.log_path.parent != log_dir or not s.log_path.is_file()]
    assert not missing, f"server logs outside the session log directory or gone: {missing}"
    return sorted(p for p in log_dir.iterdir() if p.is_file())


def test_exemptions_are_only_the_first_start_banner(logs):
    secrets = registered_secrets()
    for ex in log_exemptions():
        assert ex.log_path in logs, f"an exemption for a log the session does not have: {ex}"
        assert ex.secret in secrets and secrets[ex.secret].startswith("first-start banner"), ex.reason
        assert ex.line.strip().startswith("export MLFLOW_TRACKING_TOKEN="), ex.line
        assert ex.count == 1, ex
    per_log = [ex.log_path for ex in log_exemptions()]
    assert len(per_log) == len(set(per_log)), "more than one banner exemption for one log"


def test_no_secret_in_any_server_log(logs):
    needles = _needles()
    assert needles or not _hokusai_servers(), "Hokusai servers ran but no secret was recorded"
    exemptions = log_exemptions()
    problems = []
    for log in logs:
        text = log.read_text(errors="replace")
        lines = text.splitlines()
        for ex in [e for e in exemptions if e.log_path == log]:
            hits = sum(1 for ln in lines if ln == ex.line)
            if hits != ex.count:
                problems.append(f"{log.name}: the banner line of {_mask(ex.secret)} appears {hits} times, "
                                f"expected {ex.count}")
            lines = [ln for ln in lines if ln != ex.line]
        for number, line in enumerate(lines, 1):
            for needle, what in needles.items():
                if needle in line:
                    problems.append(f"{log.name}: {what} in line {number}")
            for match in KEY_SHAPE.finditer(line):
                if match.group(0) not in needles:
                    problems.append(f"{log.name}: an unregistered key-shaped string {_mask(match.group(0))} "
                                    f"in line {number}")
    assert not problems, f"{len(problems)} secrets in logs:\n" + "\n".join(problems[:50])


def test_no_secret_in_any_data_file(logs):
    """Only keyed hashes are stored: neither a key nor the server secret is in the database files."""
    needles = {n.encode(): what for n, what in _needles().items()}
    problems = []
    stored = [(str(path), path.read_bytes()) for path in _session_files("registry.db*")]
    stored += [(f"database {name}", dump) for name, dump in store_dumps()]
    assert stored, "no store was written in this session"
    for path, data in stored:
        for needle, what in needles.items():
            if needle in data:
                problems.append(f"{path}: {what}")
        for match in KEY_SHAPE.finditer(data.decode("latin-1")):
            if match.group(0).encode() not in needles:
                problems.append(f"{path}: an unregistered key-shaped string {_mask(match.group(0))}")
    assert not problems, "\n".join(problems[:50])


def test_server_secret_files_are_private(logs):
    loose = []
    for path in _session_files("auth-secret"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            loose.append(f"{path}: {oct(mode)}")
    assert not loose, loose
