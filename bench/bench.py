#!/usr/bin/env python3
"""Side-by-side benchmark of hokusai-registry against the real MLflow tracking server.

Driven by bench/run (which resolves the binary, the MLflow venv and wrk). Standard library only.

For every workload, both servers get the same wrk parameters. Per run we record requests/s,
p50/p99 latency (wrk --latency), server CPU per request (utime+stime summed over the server's whole
process tree, before/after the wrk run), the tree's RSS after the run, wrk's error counters, and
whether some unrelated process was busy (> NOISE_THRESHOLD of a CPU) while it ran.

hokusai runs in its real configuration, with authentication on: before it starts, the harness creates
an admin API key offline (`hokusai-registry keys create`, same store) and sends
`Authorization: Bearer <key>` on every request, to both servers (MLflow ignores it), so both parse the
same request bytes. The key is a secret: it never appears in the output or the results files.

hokusai runs once per store given with --stores: on SQLite (a file in the scratch directory) and on
PostgreSQL (a fresh database on the cluster bench/run started, --pg-url / --pg-dir). For the
PostgreSQL variant the cluster's processes are the server's "companions": their CPU is measured
beside the server's own, and they are not counted as noise while that variant is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client as httpclient
import json
import os
import platform
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NOISE_THRESHOLD = 0.20  # fraction of one CPU, for one process
NOISE_TOTAL_THRESHOLD = 0.30  # fraction of one CPU, all unrelated user processes together
HERE = os.path.dirname(os.path.abspath(__file__))
METRICS_PER_REQUEST = 1000


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# /proc helpers


def read_stat(pid: int):
    """Returns (comm, ppid, own cpu ticks, cpu ticks incl. reaped children, starttime) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lp, rp = data.find("("), data.rfind(")")
    comm = data[lp + 1 : rp]
    f = data[rp + 2 :].split()
    # f[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17, starttime=22
    ppid = int(f[1])
    own = int(f[11]) + int(f[12])
    return comm, ppid, own, own + int(f[13]) + int(f[14]), int(f[19])


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def process_tree(root: int) -> list[int]:
    seen: list[int] = []
    stack = [root]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.append(p)
        stack.extend(children(p))
    return seen


def tree_cpu_ticks(root: int) -> int:
    """utime+stime (+ cutime+cstime of reaped children) over the live process tree."""
    total = 0
    for p in process_tree(root):
        s = read_stat(p)
        if s:
            total += s[3]
    return total


def tree_rss_bytes(root: int) -> int:
    total = 0
    for p in process_tree(root):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


def uptime_ticks() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) * CLK_TCK


def all_procs():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = read_stat(int(name))
            if s:
                out[int(name)] = s
    return out


def is_kernel_thread(pid: int, ppid: int) -> bool:
    return pid == 2 or ppid == 2


class NoiseMonitor:
    """Samples every process's CPU while a workload runs and reports unrelated busy ones.

    Processes that start during the run count from zero; processes that exit between samples lose
    at most one sampling interval. Kernel threads are reported separately (loopback networking at
    high request rates shows up in ksoftirqd, which is the benchmark's own cost, not noise).
    """

    def __init__(self, exclude_roots: list[int], interval: float = 0.5,
                 label_roots: dict[str, int] | None = None, rss_root: int | None = None):
        self.exclude_roots = exclude_roots
        self.rss_root = rss_root  # when set, the peak RSS of this process tree is sampled too
        self.peak_rss = 0
        self.label_roots = label_roots or {}
        self.interval = interval
        self.stop_evt = threading.Event()
        self.base: dict[tuple[int, int], int] = {}
        self.last: dict[tuple[int, int], int] = {}
        self.names: dict[tuple[int, int], str] = {}
        self.kthread: set[tuple[int, int]] = set()
        self.excluded: set[int] = set()
        self.extra_exclude: set[int] = set()

    def _refresh_excluded(self):
        ex = {os.getpid(), os.getppid()} | self.extra_exclude
        for r in self.exclude_roots:
            ex.update(process_tree(r))
        self.excluded = ex

    def _sample(self, first: bool):
        self._refresh_excluded()
        if self.rss_root:
            self.peak_rss = max(self.peak_rss, tree_rss_bytes(self.rss_root))
        # Own utime+stime only: a shell's cutime jumps by a whole child's lifetime when it reaps
        # it, which would show up as a > 100% burst.
        for pid, (comm, ppid, cpu, _with_children, start) in all_procs().items():
            key = (pid, start)
            if key not in self.base:
                self.base[key] = 0 if (not first and start >= self.t0) else cpu
                self.names[key] = comm
                if is_kernel_thread(pid, ppid):
                    self.kthread.add(key)
            self.last[key] = cpu
            if pid in self.excluded:
                self.names[key] = "__excluded__"

    def start(self):
        self.t0 = uptime_ticks()
        self.wall0 = time.monotonic()
        self._sample(first=True)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop_evt.wait(self.interval):
            self._sample(first=False)

    def stop(self):
        self.stop_evt.set()
        self.thread.join()
        self._sample(first=False)
        wall = max(time.monotonic() - self.wall0, 1e-6)
        busy, kbusy = [], []
        total = 0.0
        for key, last in self.last.items():
            if self.names.get(key) == "__excluded__" or key[0] in self.excluded:
                continue
            frac = (last - self.base[key]) / CLK_TCK / wall
            if key not in self.kthread:
                total += frac
            if frac > NOISE_THRESHOLD:
                name = self.names[key]
                for label, root in self.label_roots.items():
                    if key[0] in process_tree(root):
                        name += f" ({label})"
                (kbusy if key in self.kthread else busy).append((name, key[0], frac))
        busy.sort(key=lambda x: -x[2])
        kbusy.sort(key=lambda x: -x[2])
        if not busy and total > NOISE_TOTAL_THRESHOLD:
            # several processes each under the per-process threshold (e.g. three compilers at 15%)
            busy.append(("other processes together", 0, total))
        return busy, kbusy


def precheck_noise(exclude_roots: list[int], label_roots: dict[str, int], seconds: float = 1.0):
    mon = NoiseMonitor(exclude_roots, interval=seconds, label_roots=label_roots)
    mon.start()
    time.sleep(seconds)
    busy, _ = mon.stop()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return busy, load


# --------------------------------------------------------------------------------------------
# HTTP helpers (seeding and verification; the load itself comes from wrk)


def http(method: str, url: str, body=None, timeout=30.0, headers=None):
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_json(method: str, url: str, body=None, headers=None):
    status, raw = http(method, url, body, headers=headers)
    if status != 200:
        raise RuntimeError(f"{method} {url} -> {status}: {raw[:300]!r}")
    return json.loads(raw or b"{}")


def metric_steps(srv: "Server", run_id: str, key: str) -> int:
    steps = set()
    token = None
    while True:
        q = f"run_id={run_id}&metric_key={key}&max_results=25000"
        if token:
            q += "&page_token=" + urllib.request.quote(token)
        d = http_json("GET", f"{srv.base}/api/2.0/mlflow/metrics/get-history?{q}",
                      headers=srv.headers)
        for m in d.get("metrics", []):
            steps.add(int(m.get("step", 0)))
        token = d.get("next_page_token")
        if not token:
            return len(steps)


# --------------------------------------------------------------------------------------------
# servers


class Server:
    def __init__(self, name: str, argv: list[str], port: int, logpath: str, env=None):
        self.name, self.argv, self.port, self.logpath = name, argv, port, logpath
        self.base = f"http://127.0.0.1:{port}"
        self.env = env
        self.headers: dict[str, str] = {}  # sent on every request (seeding, checks and wrk)
        self.proc: subprocess.Popen | None = None
        self.kind = name      # "hokusai", "hokusai-pg" or "mlflow": the servers of one kind share a store
        self.family = "mlflow" if name.startswith("mlflow") else "hokusai"  # what Workload.kinds names
        self.store = "sqlite"  # hokusai's database engine: "sqlite" or "postgres"
        self.variant = ""     # e.g. "default workers", "2 workers"
        # Processes outside the server's tree that do its work (label -> root pid): the PostgreSQL
        # cluster of the PostgreSQL variant. Their CPU is reported beside the server's, and they are
        # not noise while this server is measured.
        self.companions: dict[str, int] = {}
        self.peak_rss = 0     # bytes, sampled during measured runs
        self.started_at = 0.0

    def start(self, pidfile: str):
        self.logf = open(self.logpath, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=self.env)
        with open(pidfile, "a") as f:
            f.write(f"{self.proc.pid}\n")  # its own process group; bench/run's trap kills it too

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    def wait_healthy(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"log tail:\n{tail(self.logpath)}")
            try:
                status, _ = http("GET", self.base + "/health", timeout=2, headers=self.headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not healthy after {timeout}s; log tail:\n{tail(self.logpath)}")

    def settle(self, max_wait: float = 90.0, idle_frac: float = 0.10) -> float:
        """Waits until the whole process tree and its companions are idle (all workers finished
        importing, PostgreSQL's autovacuum done), so start-up and seeding CPU is not billed to the
        first workload. Returns the seconds waited."""
        t0 = time.monotonic()
        prev = self.all_cpu_ticks()
        quiet = 0
        while time.monotonic() - t0 < max_wait and quiet < 3:
            time.sleep(1.0)
            cur = self.all_cpu_ticks()
            quiet = quiet + 1 if (cur - prev) / CLK_TCK < idle_frac else 0
            prev = cur
        return time.monotonic() - t0

    def roots(self) -> list[int]:
        """The server's process tree root and its companions' roots."""
        return [self.pid] + list(self.companions.values())

    def companion_cpu_ticks(self) -> int:
        return sum(tree_cpu_ticks(p) for p in self.companions.values())

    def all_cpu_ticks(self) -> int:
        return tree_cpu_ticks(self.pid) + self.companion_cpu_ticks()

    def stop(self, timeout: float = 5.0):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftover workers in the group
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            pass


def tail(path: str, n: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def describe_process(cmdline: str) -> str:
    if cmdline.startswith("postgres: "):  # PostgreSQL retitles its processes
        words = cmdline.split()
        if any(w.startswith("127.0.0.1(") or w.startswith("[local]") for w in words):
            return "postgres backend"
        return " ".join(words)  # checkpointer, walwriter, autovacuum launcher, ...
    for needle, name in (("spawn_main", "uvicorn worker"), ("resource_tracker", "resource tracker"),
                         ("_job_runner", "mlflow job runner"), ("-m uvicorn", "uvicorn supervisor"),
                         ("mlflow server", "mlflow server"), ("huey", "huey consumer")):
        if needle in cmdline:
            return name
    argv = cmdline.split()
    return " ".join([os.path.basename(argv[0])] + argv[1:2]) if argv else "?"


def describe_tree(root: int) -> str:
    """`N processes: a, 2 x b, ...` for a process tree, from the processes' command lines."""
    descs: dict[str, int] = {}
    for p in process_tree(root):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        d = describe_process(cmdline)
        descs[d] = descs.get(d, 0) + 1
    return f"{sum(descs.values())} processes: " + ", ".join(
        (f"{n} x {d}" if n > 1 else d) for d, n in descs.items())


def postmaster_pid(pg_dir: str) -> int:
    """The pid of the PostgreSQL server whose cluster directory is pg_dir (scripts/postgres.sh's
    layout: <dir>/data/postmaster.pid); its process tree is every PostgreSQL process."""
    path = os.path.join(pg_dir, "data", "postmaster.pid")
    try:
        with open(path) as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot read the PostgreSQL server's pid from {path}: {e}") from None
    if read_stat(pid) is None:
        raise RuntimeError(f"{path} names pid {pid}, which does not run")
    return pid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(pids: list[int]) -> list[str]:
    """Local addresses of TCP listeners owned by the given pids (from `ss -ltnp`)."""
    try:
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    addrs = []
    for line in out.splitlines():
        found = [int(p) for p in re.findall(r"pid=(\d+)", line)]
        if any(p in pids for p in found):
            addrs.append(line.split()[3])
    return addrs


# --------------------------------------------------------------------------------------------
# wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def parse_duration_ms(s: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", s)
    if not m:
        raise ValueError(f"bad wrk duration {s!r}")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(out: str) -> dict:
    r = {"non2xx": 0, "sock": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out)
    if not m:
        raise RuntimeError("cannot parse wrk output:\n" + out)
    r["requests"] = int(m.group(1))
    r["duration_s"] = parse_duration_ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else r["requests"] / r["duration_s"]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        # wrk prints 0us percentiles when no response completed in the window: no latency then
        r[f"p{pct}_ms"] = parse_duration_ms(m.group(1)) if m and r["requests"] else float("nan")
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["sock"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    r["errors"] = r["non2xx"] + sum(r["sock"].values())
    return r


def wrk_cmd(url: str, conns: int, seconds: float, script: str | None, args: list[str],
            headers: dict[str, str] | None = None, threads: int | None = None):
    threads = threads or min(2, conns)
    secs = max(1, int(-(-seconds // 1)))  # wrk takes whole seconds
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{secs}s", "--latency",
           "--timeout", "30s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if args:
        cmd += ["--"] + args
    return cmd


SECRET_HEADERS = ("authorization",)


def redacted_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("Bearer <api key>" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def show_cmd(argv: list[str], headers: dict[str, str]) -> str:
    """The command line for logs and results files, with secret header values replaced."""
    out = argv
    for k, v in headers.items():
        if k.lower() in SECRET_HEADERS:
            out = [a.replace(v, redacted_headers({k: v})[k]) for a in out]
    return shlex.join(out)


def create_api_key(hokusai_bin: str, store_uri: str, env: dict) -> str:
    """Creates an admin key offline in hokusai's store (before the server starts) and returns it.

    Uses the same --backend-store-uri as `serve`, so both use the same `auth-secret` file beside the
    database. The key is never logged: on failure only stderr is shown (stdout would hold it)."""
    argv = [hokusai_bin, "keys", "create", "--backend-store-uri", store_uri, "--user", "bench",
            "--admin-user", "--template", "admin", "--name", "bench",
            "--rate-limit-per-hour", "1000000000", "--json"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"`{shlex.join(argv)}` exited with {p.returncode}: {p.stderr.strip()[:500]}")
    try:
        key = json.loads(p.stdout)["api_key"]
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"`{shlex.join(argv)}` did not print a JSON object with \"api_key\"") from None
    if not isinstance(key, str) or not key or any(c.isspace() for c in key):
        raise RuntimeError(f"`{shlex.join(argv)}` printed an unusable api_key")
    return key


# --------------------------------------------------------------------------------------------
# a keep-alive client for seeding, checks and the Python-driven workloads (W4)

API = "/api/2.0/mlflow"
T0_MS = 1_700_000_000_000


class ServerError(RuntimeError):
    """A server answered with an unexpected status (or unexpected content) during seeding or a check."""

    def __init__(self, kind: str, msg: str):
        super().__init__(msg)
        self.kind = kind


class Client:
    """One keep-alive HTTP/1.1 connection to a server, sending the server's headers (the key)."""

    def __init__(self, srv: Server, timeout: float = 300.0):
        self.srv, self.timeout, self.conn = srv, timeout, None

    def raw(self, method: str, path: str, body=None, headers=None):
        data = None
        h = dict(self.srv.headers)
        h.update(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = httpclient.HTTPConnection("127.0.0.1", self.srv.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, data, h)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (httpclient.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if fresh or attempt:  # only a stale kept-alive connection is retried
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body=None, ok=(200,), headers=None):
        st, raw = self.raw(method, path, body, headers)
        if st not in ok:
            raise ServerError(self.srv.kind, f"{self.srv.name}: {method} {path.split('?')[0]} -> {st}: "
                                             f"{raw[:300]!r}")
        s = raw.lstrip()[:1]
        return json.loads(raw) if s in (b"{", b"[") else raw

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def parallel(srv: Server, items, fn, threads: int, what: str):
    """Calls fn(client, item) for every item from `threads` threads (each with its own keep-alive
    connection); logs progress with the rate and an ETA; returns the results in item order."""
    items = list(items)
    n = len(items)
    out = [None] * n
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "err": None}
    t0 = time.monotonic()
    step = max(1, n // 10)

    def worker():
        c = Client(srv)
        try:
            while True:
                with lock:
                    if state["err"] or state["next"] >= n:
                        return
                    i = state["next"]
                    state["next"] += 1
                out[i] = fn(c, items[i])
                with lock:
                    state["done"] += 1
                    d = state["done"]
                if d % step == 0 and d < n:
                    el = time.monotonic() - t0
                    log(f"  {what} on {srv.name}: {d}/{n}, {d / el:.0f}/s, ETA {(n - d) * el / d:.0f}s")
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            with lock:
                state["err"] = state["err"] or e
        finally:
            c.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(threads, n)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if state["err"]:
        raise state["err"]
    el = time.monotonic() - t0
    log(f"  {what} on {srv.name}: {n} in {el:.1f}s ({n / max(el, 1e-9):.0f}/s, {threads} threads)")
    return out, el


def health_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
    except OSError:
        return False


def write_secret(path: str, text: str):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------
# workloads


class Workload:
    """One measured configuration, run against every server of the kinds in `kinds`.

    kind: "wrk" (wrk with path/script/args), "loop" (a Python call repeated sequentially for the run's
    duration: W4), "transfer" (curl: W8), "startup" (W10).
    """

    def __init__(self, wid, label, kind="wrk", conns=1, threads=None, path_fn=None, script=None,
                 args_fn=None, metrics=0, prepare=None, verify=None, kinds=("hokusai", "mlflow"),
                 targets=None, loop_fn=None, direction=None, group=None, requires=None):
        self.wid, self.label, self.kind, self.conns, self.threads = wid, label, kind, conns, threads
        self.path_fn, self.script, self.args_fn, self.metrics = path_fn, script, args_fn, metrics
        self.prepare, self.verify, self.kinds = prepare, verify, kinds
        self.targets = targets or {}   # metric key -> (">=" or "<=", value)
        self.loop_fn, self.direction = loop_fn, direction
        self.group = group or wid
        self.requires = requires  # a ctx key set up by seeding; the workload is skipped without it
        # W7's baseline: measured on the open-gate server (--open-server) in place of the SQLite
        # hokusai server, on its store, right after the keyed run it is compared with
        self.open_baseline = False


def others_labels(srv: Server, servers: list[Server]) -> dict[str, int]:
    """Labels for the other benchmarked servers' processes (and their companions) when they show up
    as busy while `srv` is measured; they are noise for `srv`."""
    out = {}
    for s in servers:
        if s is srv or not s.proc or s.proc.poll() is not None:
            continue
        out[f"idle bench {s.name}"] = s.pid
        for label, root in s.companions.items():
            if root not in srv.companions.values():
                out[f"idle bench {label}"] = root
    return out


def log_pre_busy(pre_busy, load, what):
    if pre_busy:
        log(f"  pre-check: busy before {what}: "
            + ", ".join(f"{n}[{p}] {f*100:.0f}%" for n, p, f in pre_busy[:3]) + f" (load {load})")


def finish_common(r: dict, srv: Server, mon: NoiseMonitor, cpu0: int, cpu1: int, rss0: int,
                  db0: int = 0, db1: int = 0):
    """Fills in CPU (the server's tree; `pg_` keys: its companions, db0/db1 ticks; `total_` keys:
    both, which for a server without companions is its own tree), RSS and the noise verdict."""
    busy, kbusy = mon.stop()
    n = max(r["requests"], 1)
    dur = max(r["duration_s"], 1e-6)
    # No response completed: CPU per request is unknown (the window's CPU is kept in cpu_cores)
    r["cpu_us_per_req"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / n if r["requests"] else float("nan")
    r["cpu_ms_per_req"] = r["cpu_us_per_req"] / 1000.0
    r["cpu_cores"] = (cpu1 - cpu0) / CLK_TCK / dur
    if srv.companions:
        r["pg_cpu_us_per_req"] = ((db1 - db0) / CLK_TCK * 1e6 / n if r["requests"]
                                  else float("nan"))
        r["pg_cpu_ms_per_req"] = r["pg_cpu_us_per_req"] / 1000.0
        r["pg_cpu_cores"] = (db1 - db0) / CLK_TCK / dur
    for k in ("cpu_us_per_req", "cpu_ms_per_req", "cpu_cores"):
        r["total_" + k] = r[k] + r.get("pg_" + k, 0.0)
    rss1 = tree_rss_bytes(srv.pid)
    r["rss_mib"] = rss1 / (1 << 20)
    r["rss_before_mib"] = rss0 / (1 << 20)
    r["peak_rss_mib"] = max(mon.peak_rss, rss0, rss1) / (1 << 20)
    srv.peak_rss = max(srv.peak_rss, mon.peak_rss, rss1)
    r["noisy"] = busy
    r["kbusy"] = kbusy


def start_open_server(a, hk: Server, port: int, servers: list[Server]) -> Server:
    """W7's unauthenticated baseline: hokusai-bench-open-server (bench/micro/open_server.cpp) on
    `hk`'s SQLite store, sent the same request bytes (its gate ignores the key)."""
    srv = Server("hokusai-open", [a.open_server, "--database", a.hk_db, "--port", str(port)], port,
                 os.path.join(a.tmp, "hokusai-open.log"), env=hk.env)
    srv.kind = "hokusai-open"
    srv.headers = dict(hk.headers)
    srv.start(a.pidfile)
    srv.wait_healthy(30)
    srv.settle()
    log(f"{srv.name} (open-gate baseline) healthy on 127.0.0.1:{port} (pid {srv.pid})")
    return srv


def run_wrk(srv: Server, servers: list[Server], wl: Workload, ctx: dict, prep: dict,
            seconds: float, warmup: float):
    url = srv.base + wl.path_fn(ctx)
    labels = others_labels(srv, servers)
    pre_busy, load = precheck_noise(srv.roots(), labels, 1.0)
    log_pre_busy(pre_busy, load, f"{wl.label} on {srv.name}")
    result = {"warmup": None, "pre_busy": pre_busy}
    if warmup > 0:
        wcmd = wrk_cmd(url, wl.conns, warmup, wl.script,
                       wl.args_fn(ctx, prep, True) if wl.args_fn else [], srv.headers, wl.threads)
        out = subprocess.run(wcmd, capture_output=True, text=True, timeout=warmup + 120).stdout
        result["warmup"] = parse_wrk(out)
    cmd = wrk_cmd(url, wl.conns, seconds, wl.script,
                  wl.args_fn(ctx, prep, False) if wl.args_fn else [], srv.headers, wl.threads)
    mon = NoiseMonitor(srv.roots(), label_roots=labels, rss_root=srv.pid)
    rss0 = tree_rss_bytes(srv.pid)
    cpu0 = tree_cpu_ticks(srv.pid)
    db0 = srv.companion_cpu_ticks()
    mon.start()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mon.extra_exclude.add(p.pid)
    try:
        out, _ = p.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        raise RuntimeError(f"wrk hung: {show_cmd(cmd, srv.headers)}")
    cpu1 = tree_cpu_ticks(srv.pid)
    db1 = srv.companion_cpu_ticks()
    r = parse_wrk(out)
    r.update(result)
    r["raw"] = out
    r["cmd"] = show_cmd(cmd, srv.headers)
    finish_common(r, srv, mon, cpu0, cpu1, rss0, db0, db1)
    if wl.metrics:
        r["metrics_per_s"] = r["rps"] * wl.metrics
    return r


def percentile(vals: list[float], q: float) -> float:
    if not vals:
        return float("nan")
    s = sorted(vals)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def run_loop(srv: Server, servers: list[Server], wl: Workload, ctx: dict, prep: dict,
             seconds: float, warmup: float):
    """Calls wl.loop_fn(client, ctx) back to back on one connection for `seconds` (at least 3 times)."""
    labels = others_labels(srv, servers)
    pre_busy, load = precheck_noise(srv.roots(), labels, 1.0)
    log_pre_busy(pre_busy, load, f"{wl.label} on {srv.name}")
    c = Client(srv)
    errors = 0
    info: dict = {}
    tw = time.monotonic()
    while warmup > 0 and time.monotonic() - tw < warmup:  # at least one unmeasured call
        wl.loop_fn(c, ctx, info)
    mon = NoiseMonitor(srv.roots(), label_roots=labels, rss_root=srv.pid)
    rss0 = tree_rss_bytes(srv.pid)
    cpu0 = tree_cpu_ticks(srv.pid)
    db0 = srv.companion_cpu_ticks()
    mon.start()
    lat = []
    t0 = time.monotonic()
    while (time.monotonic() - t0 < seconds or not lat) and errors < 5:
        t = time.monotonic()
        try:
            wl.loop_fn(c, ctx, info)
        except ServerError as e:
            errors += 1
            log(f"  error: {e}")
            continue
        lat.append((time.monotonic() - t) * 1000.0)
    dur = time.monotonic() - t0
    cpu1 = tree_cpu_ticks(srv.pid)
    db1 = srv.companion_cpu_ticks()
    c.close()
    r = {"requests": len(lat), "duration_s": dur, "rps": len(lat) / dur,
         "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "non2xx": errors,
         "sock": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "errors": errors,
         "pre_busy": pre_busy, "cmd": wl.label + " (Python client, one keep-alive connection)"}
    r.update(info)
    finish_common(r, srv, mon, cpu0, cpu1, rss0, db0, db1)
    return r


def run_transfer(srv: Server, servers: list[Server], wl: Workload, ctx: dict, prep: dict,
                 seconds: float, warmup: float):
    """curl PUT (one upload) or GET (downloads back to back for >= 1 s, at most 20) of the W8 file."""
    labels = others_labels(srv, servers)
    pre_busy, load = precheck_noise(srv.roots(), labels, 1.0)
    log_pre_busy(pre_busy, load, f"{wl.label} on {srv.name}")
    url = srv.base + ctx["w8_path"]
    size = ctx["w8_size"]
    base = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_upload} %{size_download}",
            "-H", "@" + ctx["header_file"][srv.name]]
    cmd = base + (["-T", ctx["w8_file"], url] if wl.direction == "up" else [url])
    mon = NoiseMonitor(srv.roots(), label_roots=labels, rss_root=srv.pid)
    rss0 = tree_rss_bytes(srv.pid)
    cpu0 = tree_cpu_ticks(srv.pid)
    db0 = srv.companion_cpu_ticks()
    mon.start()
    times, moved, bad, statuses = [], 0, 0, []
    t0 = time.monotonic()
    while True:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        mon.extra_exclude.add(p.pid)
        out, err = p.communicate(timeout=900)
        try:
            code, tt, up, down = out.split()
            code, tt, nbytes = int(code), float(tt), int(float(up if wl.direction == "up" else down))
        except ValueError:
            code, tt, nbytes = 0, 0.0, 0
        statuses.append(code)
        if p.returncode != 0 or code not in (200, 201, 204) or nbytes != size:
            bad += 1
            log(f"  transfer failed: curl rc {p.returncode}, HTTP {code}, {nbytes} of {size} bytes "
                f"{err.strip()[:200]}")
        else:
            times.append(tt)
            moved += nbytes
        el = time.monotonic() - t0
        if wl.direction == "up" or el >= 1.0 or len(statuses) >= 20 or bad:
            break
    cpu1 = tree_cpu_ticks(srv.pid)
    db1 = srv.companion_cpu_ticks()
    total_t = sum(times)
    r = {"requests": len(statuses), "duration_s": max(total_t, 1e-9), "rps": len(times) / max(total_t, 1e-9),
         "mb_per_s": moved / max(total_t, 1e-9) / 1e6,
         "p50_ms": percentile([t * 1000 for t in times], 50), "p99_ms": percentile([t * 1000 for t in times], 99),
         "non2xx": bad, "sock": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "errors": bad,
         "pre_busy": pre_busy, "statuses": statuses,
         "cmd": shlex.join(["curl", "-H", "@<header file with the key>"] + cmd[len(base):])}
    finish_common(r, srv, mon, cpu0, cpu1, rss0, db0, db1)
    for prefix in ("", "pg_", "total_"):
        if prefix + "cpu_us_per_req" in r:
            r[prefix + "cpu_ms_per_transfer"] = r[prefix + "cpu_us_per_req"] / 1000.0
    return r


def run_startup(srv: Server, servers: list[Server], wl: Workload, ctx: dict, prep: dict,
                seconds: float, warmup: float):
    """Starts a fresh instance like `srv` (same store, new port) and times process start until
    /health answers 200; then waits until it is idle and reads its tree's RSS; then stops it."""
    labels = others_labels(srv, servers)
    pre_busy, load = precheck_noise(srv.roots(), labels, 1.0)
    log_pre_busy(pre_busy, load, f"{wl.label} on {srv.name}")
    port = free_port()
    argv = list(srv.argv)
    argv[argv.index("--port") + 1] = str(port)
    inst = Server(srv.name + "-w10", argv, port, srv.logpath + ".w10", env=srv.env)
    inst.kind, inst.family, inst.store, inst.variant = srv.kind, srv.family, srv.store, srv.variant
    inst.companions = dict(srv.companions)  # the new instance's connections are new backends there
    mon = NoiseMonitor(list(srv.companions.values()), label_roots=labels)
    db0 = srv.companion_cpu_ticks()
    mon.start()
    inst.start(ctx["pidfile"])
    mon.exclude_roots = inst.roots()
    try:
        while not health_ok(port):
            if inst.proc.poll() is not None:
                raise RuntimeError(f"{inst.name} exited with {inst.proc.returncode}: {tail(inst.logpath)}")
            if time.monotonic() - inst.started_at > 180:
                raise RuntimeError(f"{inst.name} not healthy after 180 s")
            time.sleep(0.002)
        start_ms = (time.monotonic() - inst.started_at) * 1000.0
        peak = tree_rss_bytes(inst.pid)
        # idle: until the tree used < 10% of a core for 3 s in a row (MLflow workers import for a while)
        t0 = time.monotonic()
        prev = tree_cpu_ticks(inst.pid)
        quiet = 0
        while time.monotonic() - t0 < 90 and quiet < 3:
            for _ in range(10):
                time.sleep(0.1)
                peak = max(peak, tree_rss_bytes(inst.pid))
            cur = tree_cpu_ticks(inst.pid)
            quiet = quiet + 1 if (cur - prev) / CLK_TCK < 0.10 else 0
            prev = cur
        idle = tree_rss_bytes(inst.pid)
        cpu = tree_cpu_ticks(inst.pid)
        db1 = inst.companion_cpu_ticks()
        nproc = len(process_tree(inst.pid))
    finally:
        busy, kbusy = mon.stop()
        inst.stop()
    r = {"requests": 1, "duration_s": start_ms / 1000, "start_ms": start_ms, "idle_rss_mib": idle / (1 << 20),
         "startup_peak_rss_mib": peak / (1 << 20), "startup_cpu_ms": cpu / CLK_TCK * 1000,
         "processes": nproc, "errors": 0, "non2xx": 0,
         "sock": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "noisy": busy, "kbusy": kbusy,
         "pre_busy": pre_busy, "cmd": shlex.join(argv[:2] + ["..."])}
    if srv.companions:  # PostgreSQL's work for the new instance: its connections, the server's checks
        r["pg_startup_cpu_ms"] = (db1 - db0) / CLK_TCK * 1000
    r["total_startup_cpu_ms"] = r["startup_cpu_ms"] + r.get("pg_startup_cpu_ms", 0.0)
    return r


RUNNERS = {"wrk": run_wrk, "loop": run_loop, "transfer": run_transfer, "startup": run_startup}


# --------------------------------------------------------------------------------------------
# seeding (through each server's REST API) and verification


def new_run(c: Client, eid: str, name: str, start: int | None = None) -> str:
    d = c.call("POST", API + "/runs/create",
               {"experiment_id": eid, "start_time": start or int(time.time() * 1000), "run_name": name})
    return d["run"]["info"]["run_id"]


def check(kind: str, cond: bool, msg: str):
    if not cond:
        raise ServerError(kind, msg)


def seed_base(srv: Server, ctx: dict, a, kind_servers):
    c = Client(srv)
    eid = c.call("POST", API + "/experiments/create", {"name": "bench-experiment"})["experiment_id"]
    got = c.call("GET", API + f"/experiments/get?experiment_id={eid}")
    check(srv.kind, got.get("experiment", {}).get("name") == "bench-experiment",
          f"{srv.name}: experiments/get returned {str(got)[:200]}")
    for s in kind_servers:
        st, body = http("GET", s.base + "/health", headers=s.headers)
        check(s.kind, st == 200, f"{s.name}: /health -> {st}")
    # does the server enforce authentication? (no key -> expect 401 from hokusai)
    st, _ = http("GET", srv.base + API + f"/experiments/get?experiment_id={eid}")
    ctx.update(experiment_id=eid, status_without_key=st)
    c.close()


def prep_w1(srv: Server, ctx: dict, wl: Workload, rep: int) -> dict:
    c = Client(srv)
    rid = new_run(c, ctx["experiment_id"], f"w1-c{wl.conns}-{srv.name}-{rep}")
    c.close()
    return {"run_id": rid}


def metric_steps(srv: Server, run_id: str, key: str) -> int:
    c = Client(srv)
    steps = set()
    token = None
    while True:
        q = f"run_id={run_id}&metric_key={key}&max_results=25000"
        if token:
            q += "&page_token=" + urllib.parse.quote(token, safe="")
        d = c.call("GET", f"{API}/metrics/get-history?{q}")
        for m in d.get("metrics", []):
            steps.add(int(m.get("step", 0)))
        token = d.get("next_page_token")
        if not token:
            c.close()
            return len(steps)


def verify_w1(srv: Server, ctx: dict, wl: Workload, prep: dict, r: dict) -> str:
    ok_reqs = r["requests"] - r["non2xx"]
    if r["warmup"]:
        ok_reqs += r["warmup"]["requests"] - r["warmup"]["non2xx"]
    slack = wl.conns * 2  # in-flight requests when wrk stops are not counted
    counts = {k: metric_steps(srv, prep["run_id"], k) for k in ("m0", f"m{wl.metrics - 1}")}
    good = all(ok_reqs <= v <= ok_reqs + slack for v in counts.values())
    res = "ok" if good else (f"ROWS MISMATCH ({srv.name}: {counts} distinct steps vs "
                             f"{ok_reqs} successful requests)")
    log(f"  verify: {counts} distinct steps per key for {ok_reqs} counted requests -> {res}")
    return res


def seed_w2(srv: Server, ctx: dict, a, kind_servers):
    c = Client(srv)
    ctx["w2_experiment_id"] = c.call("POST", API + "/experiments/create", {"name": "w2-client-loop"})[
        "experiment_id"]
    c.close()


W3_FILTER = "metrics.acc > 0.5 and params.optimizer = 'adam'"
W3_ORDER = ["metrics.acc DESC"]
W3_PAGE = 100


def w3_acc(i: int) -> float:
    return (i % 1000) / 1000.0


def run_metric(run: dict, key: str):
    for m in run.get("data", {}).get("metrics", []):
        if m.get("key") == key:
            return float(m.get("value", 0.0))
    return None


def seed_w3(srv: Server, ctx: dict, a, kind_servers):
    """a.w3_runs runs, each with metric acc (0.000..0.999) and param optimizer (adam/sgd): one
    runs/create and one log-batch per run, from a.seed_threads threads."""
    n = a.w3_runs
    c = Client(srv)
    eid = c.call("POST", API + "/experiments/create", {"name": "w3-search"})["experiment_id"]

    def one(cl: Client, i: int):
        rid = new_run(cl, eid, f"w3-{i}", start=T0_MS + i)
        cl.call("POST", API + "/runs/log-batch", {
            "run_id": rid, "metrics": [{"key": "acc", "value": w3_acc(i), "timestamp": T0_MS, "step": 0}],
            "params": [{"key": "optimizer", "value": "adam" if i % 2 == 0 else "sgd"}], "tags": []})

    _, el = parallel(srv, range(n), one, a.seed_threads, f"W3 seeding {n} runs (runs/create + log-batch each)")
    ctx["w3_seed_s"] = el
    matches = [w3_acc(i) for i in range(n) if i % 2 == 0 and w3_acc(i) > 0.5]
    body1 = {"experiment_ids": [eid], "filter": W3_FILTER, "order_by": W3_ORDER, "max_results": W3_PAGE}
    d1 = c.call("POST", API + "/runs/search", body1)
    runs1 = d1.get("runs", [])
    accs1 = [run_metric(r, "acc") for r in runs1]
    check(srv.kind, len(runs1) == min(W3_PAGE, len(matches)),
          f"{srv.name}: runs/search page 1 has {len(runs1)} runs, expected {min(W3_PAGE, len(matches))}")
    if matches:
        check(srv.kind, accs1[0] == max(matches) and accs1 == sorted(accs1, reverse=True),
              f"{srv.name}: runs/search page 1 not ordered by acc DESC from {max(matches)}: {accs1[:5]}")
    ctx["w3_matches"] = len(matches)
    body_dir = a.tmp
    ctx["w3_body1"] = os.path.join(body_dir, f"w3-{srv.kind}-page1.json")
    with open(ctx["w3_body1"], "w") as f:
        json.dump(body1, f)
    token = d1.get("next_page_token")
    if len(matches) > W3_PAGE:
        check(srv.kind, bool(token), f"{srv.name}: runs/search page 1 has no next_page_token")
        body2 = dict(body1, page_token=token)
        d2 = c.call("POST", API + "/runs/search", body2)
        runs2 = d2.get("runs", [])
        accs2 = [run_metric(r, "acc") for r in runs2]
        ids1 = {r["info"]["run_id"] for r in runs1}
        check(srv.kind, len(runs2) == min(W3_PAGE, len(matches) - W3_PAGE)
              and not ids1 & {r["info"]["run_id"] for r in runs2}
              and (not accs2 or max(accs2) <= min(accs1)),
              f"{srv.name}: runs/search page 2 wrong: {len(runs2)} runs, acc {accs2[:3]}")
        ctx["w3_body2"] = os.path.join(body_dir, f"w3-{srv.kind}-page2.json")
        with open(ctx["w3_body2"], "w") as f:
            json.dump(body2, f)
    c.close()


W4_PAGE = 25000  # the largest max_results either server accepts; the stock client pages like this
TOKEN_RE = re.compile(rb'"next_page_token"\s*:\s*"([^"]*)"')


def seed_w4(srv: Server, ctx: dict, a, kind_servers):
    steps = a.w4_steps
    c = Client(srv)
    rid = new_run(c, ctx["experiment_id"], "w4-history")
    c.close()

    def one(cl: Client, s0: int):
        cl.call("POST", API + "/runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "loss", "value": (s % 977) / 977.0, "timestamp": T0_MS + s, "step": s}
            for s in range(s0, min(s0 + 1000, steps))], "params": [], "tags": []})

    parallel(srv, range(0, steps, 1000), one, min(4, a.seed_threads), f"W4 seeding {steps} steps (log-batch)")
    ctx["w4_run_id"] = rid
    ctx["w4_steps"] = steps


def loop_w4(c: Client, ctx: dict, info: dict):
    """The whole history of the W4 metric, page by page (max_results=25000), as the stock client does."""
    token, points, pages = None, 0, 0
    while True:
        q = f"run_id={ctx['w4_run_id']}&metric_key=loss&max_results={W4_PAGE}"
        if token:
            q += "&page_token=" + urllib.parse.quote(token, safe="")
        st, raw = c.raw("GET", API + "/metrics/get-history?" + q)
        if st != 200:
            raise ServerError(c.srv.kind, f"{c.srv.name}: metrics/get-history -> {st}: {raw[:200]!r}")
        pages += 1
        points += raw.count(b'"key"')
        m = TOKEN_RE.search(raw, max(0, len(raw) - 1000)) or TOKEN_RE.search(raw)
        token = m.group(1).decode() if m else None
        if not token or pages > 1000:
            break
    if points != ctx["w4_steps"]:
        raise ServerError(c.srv.kind, f"{c.srv.name}: get-history returned {points} points in {pages} "
                                      f"pages, expected {ctx['w4_steps']}")
    info["pages"] = pages
    info["points"] = points


def seed_w5(srv: Server, ctx: dict, a, kind_servers):
    c = Client(srv)
    c.call("POST", API + "/registered-models/create", {"name": "w5-model"})
    rid = new_run(c, ctx["experiment_id"], "w5-source")
    v = c.call("POST", API + "/model-versions/create",
               {"name": "w5-model", "source": f"runs:/{rid}/model", "run_id": rid})["model_version"]["version"]
    c.call("POST", API + "/registered-models/alias", {"name": "w5-model", "alias": "champion", "version": v})
    got = c.call("GET", API + "/registered-models/alias?name=w5-model&alias=champion")
    check(srv.kind, str(got.get("model_version", {}).get("version")) == str(v),
          f"{srv.name}: alias champion -> {str(got)[:200]}")
    ctx["w5_run_id"] = rid
    c.close()


def seed_w7(srv: Server, ctx: dict, a, kind_servers):
    """a.w7_keys reader keys through POST /api/v1/keys (admin key), kept in a 0600 file in the
    scratch directory for lua/rotate_keys.lua. Never printed."""
    def one(cl: Client, i: int) -> str:
        d = cl.call("POST", "/api/v1/keys", {"name": f"w7-{i}", "template": "reader",
                                             "rate_limit_per_hour": 1_000_000_000}, ok=(200, 201))
        key = d.get("api_key")
        check(srv.kind, isinstance(key, str) and bool(key), f"{srv.name}: POST /api/v1/keys gave no api_key")
        return key

    keys, el = parallel(srv, range(a.w7_keys), one, a.seed_threads, f"W7 creating {a.w7_keys} API keys")
    ctx["w7_seed_s"] = el
    for k in (keys[0], keys[-1]):  # a stored key authenticates a read
        st, _ = http("GET", srv.base + API + f"/experiments/get?experiment_id={ctx['experiment_id']}",
                     headers={"Authorization": f"Bearer {k}"})
        check(srv.kind, st == 200, f"{srv.name}: experiments/get with a created reader key -> {st}")
    ctx["w7_keyfile"] = os.path.join(a.tmp, f"w7-keys-{srv.kind}")  # each store has its own keys
    write_secret(ctx["w7_keyfile"], "\n".join(keys) + "\n")


# W7's in-process half: hokusai-microbench (bench/micro/key_validation.cpp) on a SQLite store of
# its own, run once after the servers have stopped. Issue #8: "validation ≤ 1 µs and flat from 10
# to 1M keys", read here as the valid-key Authenticate on one thread at every N measured.
MICRO_NS_TARGET = 1000.0  # ns per call
MICRO_FLAT_TARGET = 1.25  # the largest N's median over the smallest N's, at most
MICRO_FLAT_RANGE = (10, 1_000_000)  # the flatness verdict needs N measured at least this wide
MICRO_TIMEOUT_S = 3600


def parse_microbench(text: str) -> list[dict]:
    """The JSON lines of `hokusai-microbench --json` (other lines are ignored)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("bench") == "key_validation":
                lines.append(d)
    return lines


def run_microbench(a) -> dict:
    """Runs the microbench for a.w7_micro_keys keys under a.tmp, watching for noise. Returns the
    command, its parsed lines, the noise verdict, the wall time and `error` (None when it worked)."""
    cmd = [a.microbench, "--json", "--keys", a.w7_micro_keys, "--dir", a.tmp]
    out = {"cmd": shlex.join(cmd), "lines": [], "noisy": [], "error": None}
    log(f"W7 in-process key validation: {out['cmd']}")
    mon = NoiseMonitor([])
    mon.start()
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        mon.stop()
        out["error"] = f"cannot run hokusai-microbench: {e}"
        return out
    mon.extra_exclude.add(p.pid)
    try:
        stdout, stderr = p.communicate(timeout=MICRO_TIMEOUT_S)
    except BaseException as e:  # a timeout, Ctrl-C or SIGTERM: do not leave it running
        p.kill()
        p.communicate()
        mon.stop()
        if not isinstance(e, subprocess.TimeoutExpired):
            raise
        out["error"] = f"hokusai-microbench still running after {MICRO_TIMEOUT_S}s: killed"
        return out
    out["wall_s"] = time.monotonic() - t0
    out["noisy"], _ = mon.stop()
    if p.returncode != 0:
        out["error"] = f"hokusai-microbench exit {p.returncode}: {stderr.strip()[-500:] or '(no stderr)'}"
        return out
    try:
        out["lines"] = parse_microbench(stdout)
    except json.JSONDecodeError as e:
        out["error"] = f"unreadable hokusai-microbench output: {e}"
        return out
    if not micro_results(out, "valid"):
        out["error"] = "hokusai-microbench printed no valid-key results"
    for d in out["lines"]:
        if "ns_median" in d:
            log(f"  {d['keys']:,} keys, {d['case']}, {d['threads']} thread(s): {d['ns_median']:,.0f} ns/call")
    return out


def micro_results(micro: dict, case: str, threads: int = 1) -> dict[int, dict]:
    """One case's microbench lines for one thread count, by number of stored keys."""
    return {d["keys"]: d for d in micro["lines"] if d.get("case") == case and d.get("threads") == threads}


def micro_cell(d: dict | None, key: str) -> str:
    """median [min-max] of the microbench's `<key>_median`, `_min`, `_max`."""
    return "n/a" if d is None else cell((d[key + "_median"], d[key + "_min"], d[key + "_max"]))


def micro_verdicts(micro: dict):
    """(worst valid-key ns, met) over both valid-key cases on one thread, and (largest N / smallest
    N, met) for the case with the same few keys in use at every N: what the number of keys stored
    costs. Flatness is "n/a" unless the N measured span MICRO_FLAT_RANGE."""
    valid, few = micro_results(micro, "valid"), micro_results(micro, "valid_few")
    worst = max(d["ns_median"] for d in list(valid.values()) + list(few.values()))
    flat_over = few or valid
    lo, hi = min(flat_over), max(flat_over)
    flat = flat_over[hi]["ns_median"] / flat_over[lo]["ns_median"]
    spans = lo <= MICRO_FLAT_RANGE[0] and hi >= MICRO_FLAT_RANGE[1]
    return ((worst, "yes" if worst <= MICRO_NS_TARGET else "NO"),
            (flat, ("yes" if flat <= MICRO_FLAT_TARGET else "NO") if spans else "n/a"))


def micro_first_note(micro: dict) -> str:
    """What the in-process numbers are, with the build type and the noise verdict."""
    sampled = ", ".join(f"{d['sampled_keys']:,} of {d['keys']:,}"
                        for d in micro["lines"] if d.get("case") == "seed")
    note = (f"hokusai-microbench, SQLite, in process; valid keys drawn from {sampled} stored, each used "
            "once before timing (so no last-use write falls in the timed loops)")
    build = next((d.get("build_type") for d in micro["lines"] if d.get("case") == "config"), "?")
    if build != "Release":
        note += f"; NOT a Release build ({build}): numbers may be meaningless"
    if micro["noisy"]:
        note += "; noisy (" + ", ".join(f"{n}[{p}] {f * 100:.0f}%" for n, p, f in micro["noisy"][:2]) + ")"
    return note


def w7_micro_rows(micro: dict | None, hks: list, row, blank: list, targets_summary: list) -> list:
    """W7's in-process rows. The microbench runs on SQLite, so its numbers go in the SQLite
    column (the first column when ours did not run on SQLite) and "-" in the others."""
    col = next((i for i, s in enumerate(hks) if s.store == "sqlite"), 0)

    def cells(text: str) -> list[str]:
        return [text if i == col else "-" for i in range(len(hks))]

    if not micro or micro["error"]:
        what, why = (("failed", micro["error"]) if micro else
                     ("not measured", "no hokusai-microbench (bench/run builds it; HOKUSAI_MICROBENCH)"))
        targets_summary.append(("W7", "in-process validation, flat 10..1M keys", "≤ 1 µs", what, "n/a"))
        return [row("W7", "in-process key validation", cells(what), "-", blank,
                    f"≤ {fmt_num(MICRO_NS_TARGET)} ns, flat 10..1M keys", "n/a", why)]
    digest_only, valid, few, unknown, first_use = (
        micro_results(micro, c) for c in ("digest_only", "valid", "valid_few", "unknown", "valid_first_use"))
    concurrent = {d["keys"]: d for d in micro["lines"] if d.get("case") == "valid" and d.get("threads", 1) > 1}
    rows = []

    def within(d: dict) -> str:
        return "yes" if d["ns_median"] <= MICRO_NS_TARGET else "NO"

    for n in sorted(valid):
        what = f"in-process, {n:,} keys:"
        v, fu, c, f = valid[n], first_use.get(n), concurrent.get(n), few.get(n)
        rows.append(row("W7", f"{what} Digest (CPU), ns/call",
                        cells(micro_cell(digest_only.get(n), "ns")), "-", blank))
        rows.append(row("W7", f"{what} Authenticate valid, {v.get('distinct_keys', '?'):,} keys in use, ns/call",
                        cells(micro_cell(v, "ns")), "-", blank, f"≤ {fmt_num(MICRO_NS_TARGET)}", within(v),
                        f"first use in a minute (with its last-use write): {fmt_num(fu['ns_mean'])} ns"
                        if fu else ""))
        if f:
            rows.append(row("W7", f"{what} Authenticate valid, {f.get('distinct_keys', '?'):,} keys in use, ns/call",
                            cells(micro_cell(f, "ns")), "-", blank, f"≤ {fmt_num(MICRO_NS_TARGET)}", within(f)))
        if c:
            rows.append(row("W7", f"{what} Authenticate valid, {c['threads']} threads, calls/s",
                            cells(micro_cell(c, "calls_per_s")), "-", blank,
                            note=f"total over the threads; 1 thread: {fmt_num(v['calls_per_s_median'])} "
                                 f"calls/s; {fmt_num(c['ns_median'])} ns/call per thread"))
        rows.append(row("W7", f"{what} Authenticate unknown (401), ns/call",
                        cells(micro_cell(unknown.get(n), "ns")), "-", blank))
    rows[0][-1] = micro_first_note(micro)
    (worst, worst_met), (flat, flat_met) = micro_verdicts(micro)
    lo, hi = min(valid), max(valid)
    span = f"{MICRO_FLAT_RANGE[0]:,}..{MICRO_FLAT_RANGE[1]:,}"
    in_use = next((d.get("distinct_keys") for d in (few or valid).values()), "?")
    rows.append(row("W7", f"in-process Authenticate valid, {in_use} keys in use: {hi:,} / {lo:,} keys stored",
                    cells(f"{flat:.2f}x"), "-", blank, f"flat: ≤ {MICRO_FLAT_TARGET:g}x", flat_met,
                    f"N measured do not span {span}" if flat_met == "n/a" else
                    "the number of keys in use held the same, so that only the number stored varies"))
    targets_summary.append(("W7", f"in-process validation, valid key, 1 thread, worst of {len(valid)} key counts",
                            "≤ 1 µs", f"{fmt_num(worst)} ns", worst_met))
    targets_summary.append(("W7", f"in-process validation flat ({hi:,} keys / {lo:,} keys stored, {in_use} in use)",
                            f"≤ {MICRO_FLAT_TARGET:g}x", f"{flat:.2f}x", flat_met))
    return rows


def seed_w8(srv: Server, ctx: dict, a, kind_servers):
    path = os.path.join(a.tmp, "w8.bin")
    size = a.w8_mb * 1_000_000
    if not os.path.exists(path):
        with open(path, "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                f.write(chunk)
                left -= len(chunk)
    c = Client(srv)
    rid = new_run(c, ctx["experiment_id"], "w8-artifacts")
    c.close()
    ctx["w8_file"], ctx["w8_size"] = path, size
    ctx["w8_path"] = f"/api/2.0/mlflow-artifacts/artifacts/{ctx['experiment_id']}/{rid}/artifacts/w8.bin"
    ctx.setdefault("header_file", {})
    for s in kind_servers:  # curl reads the key from a file (-H @file), so it is not on a command line
        hf = os.path.join(a.tmp, f"headers-{s.name}")
        write_secret(hf, "".join(f"{k}: {v}\n" for k, v in s.headers.items()))
        ctx["header_file"][s.name] = hf


SETUPS = {"W2": seed_w2, "W3": seed_w3, "W4": seed_w4, "W5": seed_w5, "W7": seed_w7, "W8": seed_w8}


def build_workloads(a) -> list[Workload]:
    lua = lambda name: os.path.join(HERE, "lua", name)  # noqa: E731
    exp_get = lambda c: f"{API}/experiments/get?experiment_id={c['experiment_id']}"  # noqa: E731
    W: list[Workload] = []
    for c in (64, 1):
        W.append(Workload("W0a", f"W0 GET /health c={c}", conns=c, path_fn=lambda x: "/health", group="W0",
                          targets={"rps": (">=", 50_000)} if c == 64 else None))
    for c in (64, 1):
        W.append(Workload("W0b", f"W0 experiments/get c={c}", conns=c, path_fn=exp_get, group="W0",
                          targets={"rps": (">=", 30_000)} if c == 64 else None))
    for c in (1, 4, 16):
        W.append(Workload(
            "W1", f"W1 log-batch 1000 metrics c={c}", conns=c, path_fn=lambda x: API + "/runs/log-batch",
            script=lua("log_batch.lua"), metrics=METRICS_PER_REQUEST, prepare=prep_w1, verify=verify_w1,
            # disjoint step ranges for warm-up and measured run
            args_fn=lambda x, prep, warm: [prep["run_id"], str(0 if warm else 500_000_000),
                                           str(METRICS_PER_REQUEST)],
            targets={"metrics_per_s": (">=", 200_000)}))
    for c in (8, 32):
        W.append(Workload(
            "W2", f"W2 client loop (create, 10 x log-metric, update) c={c}", conns=c, threads=c,
            path_fn=lambda x: API + "/runs/create", script=lua("client_loop.lua"),
            args_fn=lambda x, prep, warm: [x["w2_experiment_id"], "10"], targets={"rps": (">=", 8_000)}))
    W.append(Workload("W3", f"W3 runs/search {a.w3_runs} runs, first page c=1", conns=1,
                      path_fn=lambda x: API + "/runs/search", script=lua("post_body.lua"),
                      args_fn=lambda x, prep, warm: ["POST", API + "/runs/search", x["w3_body1"]],
                      targets={"p50_ms": ("<=", 30)}))
    W.append(Workload("W3", f"W3 runs/search {a.w3_runs} runs, page 2 (page_token) c=1", conns=1,
                      path_fn=lambda x: API + "/runs/search", script=lua("post_body.lua"),
                      args_fn=lambda x, prep, warm: ["POST", API + "/runs/search", x["w3_body2"]],
                      requires="w3_body2"))
    W.append(Workload("W4", f"W4 get-history {a.w4_steps}-step metric (all pages) c=1", kind="loop",
                      loop_fn=loop_w4, targets={"p50_ms": ("<=", 80)}))
    W.append(Workload("W5", "W5 model-versions/create + alias set c=4", conns=4, threads=4,
                      path_fn=lambda x: API + "/model-versions/create", script=lua("registry_write.lua"),
                      args_fn=lambda x, prep, warm: ["w5-model", x["w5_run_id"], "writer"]))
    W.append(Workload("W5", "W5 get-by-alias c=64", conns=64,
                      path_fn=lambda x: API + "/registered-models/alias?name=w5-model&alias=champion",
                      targets={"rps": (">=", 20_000)}))
    W.append(Workload("W7", f"W7 experiments/get c=64, one admin key, {a.w7_keys} keys stored", conns=64,
                      path_fn=exp_get, kinds=("hokusai",)))
    wl_open = Workload("W7", "W7 experiments/get c=64, no authentication (open-gate baseline server, "
                       "same store and handlers)", conns=64, path_fn=exp_get, kinds=("hokusai",))
    wl_open.open_baseline = True
    W.append(wl_open)
    W.append(Workload("W7", f"W7 experiments/get c=64, rotating over {a.w7_keys} keys", conns=64,
                      path_fn=exp_get, script=lua("rotate_keys.lua"), kinds=("hokusai",),
                      args_fn=lambda x, prep, warm: [x["w7_keyfile"], exp_get(x)]))
    W.append(Workload("W7", "W7 GET /health c=64 (public route, no key check)", conns=64,
                      path_fn=lambda x: "/health", kinds=("hokusai",)))
    W.append(Workload("W8", f"W8 artifact upload {a.w8_mb} MB (PUT mlflow-artifacts)", kind="transfer",
                      direction="up"))
    W.append(Workload("W8", f"W8 artifact download {a.w8_mb} MB (GET mlflow-artifacts)", kind="transfer",
                      direction="down", targets={"mb_per_s": (">=", 800)}))
    W.append(Workload("W10", "W10 start-up (fresh process, existing store)", kind="startup",
                      targets={"start_ms": ("<=", 200), "idle_rss_mib": ("<=", 30)}))
    return W


ALL_IDS = ["W0", "W0a", "W0b", "W1", "W2", "W3", "W4", "W5", "W7", "W8", "W10"]


# --------------------------------------------------------------------------------------------
# report


def fmt_num(v: float) -> str:
    if v is None or v != v:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(h, m, higher_better: bool) -> str:
    try:
        r = h / m if higher_better else m / h
    except (ZeroDivisionError, TypeError):
        return "n/a"
    if r != r or r in (float("inf"), float("-inf")):
        return "n/a"
    return f"{r:.2f}x" if r < 100 else f"{r:,.0f}x"


METRICS = {
    "wrk": [("requests/s", "rps", True), ("p50 latency ms", "p50_ms", False),
            ("p99 latency ms", "p99_ms", False), ("server CPU us/request", "cpu_us_per_req", False),
            ("server RSS MiB (tree)", "rss_mib", False)],
    "loop": [("whole histories/s", "rps", True), ("p50 ms (whole history)", "p50_ms", False),
             ("p99 ms (whole history)", "p99_ms", False), ("server CPU ms/history", "cpu_ms_per_req", False),
             ("server RSS MiB peak during run", "peak_rss_mib", False)],
    "transfer": [("MB/s", "mb_per_s", True), ("p50 ms per transfer", "p50_ms", False),
                 ("server CPU ms/transfer", "cpu_ms_per_transfer", False),
                 ("server RSS MiB peak during run", "peak_rss_mib", False)],
    "startup": [("start until /health 200, ms", "start_ms", False), ("idle RSS MiB (tree)", "idle_rss_mib", False),
                ("peak RSS MiB during start-up", "startup_peak_rss_mib", False),
                ("start-up CPU ms (tree)", "startup_cpu_ms", False)],
}


# With a PostgreSQL variant, each CPU metric (the server's own process tree) is followed by
# PostgreSQL's CPU for the same work (that variant only) and by the sum of both ("server +
# database": for SQLite and MLflow the database runs inside the server, so this is their own tree).
PG_CPU_ROWS = {
    "cpu_us_per_req": ("PostgreSQL CPU us/request", "server + database CPU us/request"),
    "cpu_ms_per_req": ("PostgreSQL CPU ms/history", "server + database CPU ms/history"),
    "cpu_ms_per_transfer": ("PostgreSQL CPU ms/transfer", "server + database CPU ms/transfer"),
    "startup_cpu_ms": ("PostgreSQL CPU ms during start-up", "server + database start-up CPU ms"),
}


def metric_list(wl: Workload, with_pg: bool = False):
    ms = list(METRICS[wl.kind])
    if wl.metrics:
        ms.insert(1, ("metrics/s", "metrics_per_s", True))
    if with_pg:
        out = []
        for label, key, hb in ms:
            out.append((label, key, hb))
            if key in PG_CPU_ROWS:
                pg_label, total_label = PG_CPU_ROWS[key]
                out += [(pg_label, "pg_" + key, hb), (total_label, "total_" + key, hb)]
        ms = out
    return ms


def usable(reps: list[dict]) -> list[dict]:
    """Repeats that count: the quiet ones, or all of them when every repeat was noisy."""
    quiet = [r for r in reps if not r.get("noisy")]
    return quiet or reps


def agg(reps: list[dict], key: str):
    vals = sorted(r[key] for r in usable(reps) if isinstance(r.get(key), (int, float)) and r[key] == r[key])
    if not vals:
        return None
    return statistics.median(vals), vals[0], vals[-1]


def cell(a) -> str:
    if a is None:
        return "n/a"
    med, lo, hi = a
    if fmt_num(lo) == fmt_num(hi):
        return fmt_num(med)
    return f"{fmt_num(med)} [{fmt_num(lo)}-{fmt_num(hi)}]"


def best_mlflow(wl: Workload, reps: dict[str, list[dict]], servers: list[Server]):
    """The MLflow variant with the best median of the workload's first metric."""
    label, key, hb = metric_list(wl)[0]
    best, best_v = None, None
    for s in servers:
        if s.kind != "mlflow" or s.name not in reps:
            continue
        a = agg(reps[s.name], key)
        if a is None:
            continue
        if best is None or (a[0] > best_v if hb else a[0] < best_v):
            best, best_v = s, a[0]
    return best


def target_text(t) -> str:
    op, v = t
    return ("≥ " if op == ">=" else "≤ ") + fmt_num(v)


def target_met(t, value) -> bool:
    op, v = t
    return value >= v if op == ">=" else value <= v


def noise_notes(name: str, reps: list[dict]) -> list[str]:
    notes = []
    noisy = [r for r in reps if r.get("noisy")]
    if noisy and len(noisy) < len(reps):
        notes.append(f"{name}: {len(noisy)}/{len(reps)} noisy runs rejected")
    elif noisy:
        procs = ", ".join(f"{n}[{p}] {f*100:.0f}%" for n, p, f in noisy[0]["noisy"][:2])
        notes.append(f"noisy ({name}, all {len(reps)} runs: {procs})")
    empty = [r for r in usable(reps) if r.get("requests") == 0]
    if empty:
        notes.append(f"{name}: no response completed within the {empty[0]['duration_s']:.0f} s "
                     f"window in {len(empty)}/{len(usable(reps))} runs (no latency or CPU per request)")
    errs = sum(r["errors"] for r in reps)
    if errs:
        notes.append(f"INVALID ({name}: {errs} errors in {len(reps)} runs)")
    for r in reps:
        v = r.get("verify")
        if v and v != "ok":
            notes.append(v)
            break
    return notes


def build_rows(results, servers, targets_summary: list, micro: dict | None = None):
    """The table's rows: one hokusai column per store variant, the best MLflow variant, one ratio
    per hokusai variant; W7 ends with the in-process rows of `micro` (run_microbench). Appends
    (workload, what, target, measured, met) to targets_summary."""
    rows = []
    hks = [s for s in servers if s.family == "hokusai"]
    with_pg = any(s.companions for s in hks)
    blank = [""] * len(hks)

    def tag(s: Server) -> str:
        return f" [{s.store}]" if len(hks) > 1 else ""

    def row(wl_label, metric, hk_cells, ml_cell, ratios, target="", met="", note=""):
        return [wl_label, metric, *hk_cells, ml_cell, *ratios, target, met, note]

    for wl, reps in results:
        hr = [reps.get(s.name) for s in hks]
        ml = best_mlflow(wl, reps, servers)
        m = reps.get(ml.name) if ml else None
        notes = [n for s, h in zip(hks, hr) for n in noise_notes(s.name, h or [])]
        notes += noise_notes(ml.name, m) if m else []
        mls = [s for s in servers if s.family == "mlflow" and s.name in reps]
        if len(mls) > 1:
            lab, key, _ = metric_list(wl)[0]
            notes.insert(0, "mlflow = best of " + ", ".join(
                f"{s.variant} {cell(agg(reps[s.name], key))}" for s in mls))
        if "mlflow" not in wl.kinds:
            notes.insert(0, "hokusai only")
        for i, (label, key, hb) in enumerate(metric_list(wl, with_pg)):
            db_only = key.startswith("pg_")  # PostgreSQL's own CPU: the PostgreSQL variant alone
            ma = agg(m, key) if m and not db_only else None
            t = wl.targets.get(key)
            cells, ratios, mets = [], [], []
            for s, h in zip(hks, hr):
                ha = agg(h, key) if h else None
                cells.append("-" if h is None or (db_only and ha is None) else cell(ha))
                ratios.append(ratio(ha[0], ma[0], hb) if ha and ma else "")
                if t:
                    met = "n/a" if ha is None else ("yes" if target_met(t, ha[0]) else "NO")
                    mets.append(met)
                    targets_summary.append((wl.label, label + tag(s), target_text(t), cell(ha), met))
            rows.append(row(wl.label, label, cells, "-" if m is None or db_only else cell(ma), ratios,
                            target_text(t) if t else "", " / ".join(mets), "; ".join(notes) if i == 0 else ""))
        if wl.kind == "loop":
            # flat memory: tree RSS before the first run and after the last one
            cells, mets = [], []
            for s, h in zip(hks, hr):
                flat = "n/a"
                if h:
                    before, after = h[0]["rss_before_mib"], h[-1]["rss_mib"]
                    flat = "yes" if after - before <= 10 else "NO"
                    cells.append(f"{fmt_num(before)} -> {fmt_num(after)}")
                else:
                    cells.append("n/a")
                mets.append(flat)
                targets_summary.append((wl.label, "flat memory (RSS growth ≤ 10 MiB)" + tag(s), "≤ +10",
                                        fmt_num(after - before) if h else "n/a", flat))
            rows.append(row(wl.label, "RSS MiB before first -> after last run", cells,
                            f"{fmt_num(m[0]['rss_before_mib'])} -> {fmt_num(m[-1]['rss_mib'])}" if m else "-",
                            blank, "flat (≤ +10)", " / ".join(mets)))
            pts = next((r[0].get("points") for r in hr + [m] if r), None)
            rows.append(row(wl.label, "points per history / pages",
                            [f"{pts} / {h[0].get('pages')}" if h else "n/a" for h in hr],
                            f"{pts} / {m[0].get('pages')}" if m else "-", blank))
        if wl.kind == "startup":
            rows.append(row(wl.label, "peak RSS MiB (tree) of the benchmarked instance, whole run",
                            [fmt_num(s.peak_rss / (1 << 20)) for s in hks],
                            fmt_num(ml.peak_rss / (1 << 20)) if ml else "-",
                            [ratio(s.peak_rss, ml.peak_rss, False) if ml and s.peak_rss else "" for s in hks],
                            note="sampled every 0.5 s during every measured run"
                            + ("; PostgreSQL's processes not included" if with_pg else "")))
        rows.append(row(wl.label, "errors (non-2xx + socket)",
                        [str(sum(r["errors"] for r in h)) if h else "-" for h in hr],
                        str(sum(r["errors"] for r in m)) if m else "-", blank))
        if wl.label.startswith("W7 GET /health"):
            by = {w.label: r for w, r in results}
            one = next((r for lab, r in by.items() if lab.startswith("W7 experiments/get") and "one admin" in lab), None)
            rot = next((r for lab, r in by.items() if lab.startswith("W7 experiments/get") and "rotating" in lab), None)
            if one and rot:
                cells = []
                for s in hks:
                    a1 = agg(one[s.name], "rps") if s.name in one else None
                    a2 = agg(rot[s.name], "rps") if s.name in rot else None
                    cells.append(f"{a2[0] / a1[0] * 100:.0f}%" if a1 and a2 else "n/a")
                rows.append(row("W7", "rotating keys / one key, requests/s", cells, "-", blank,
                                note="lookup cost across many stored keys"))
            base = next((r for lab, r in by.items() if lab.startswith("W7 experiments/get") and "no authentication" in lab),
                        None)
            cells, met = [], []
            for s in hks:
                a1 = agg(one[s.name], "rps") if one and s.name in one and one[s.name] else None
                a0 = agg(base[s.name], "rps") if base and s.name in base and base[s.name] else None
                if a1 and a0:
                    pct = a1[0] / a0[0] * 100
                    cells.append(f"{pct:.0f}%")
                    met.append(pct >= 90)
                else:
                    cells.append("not measured")
            verdict = ("yes" if all(met) else "NO") if met else "n/a"
            cpu_cells = []
            for s in hks:
                c1 = agg(one[s.name], "cpu_us_per_req") if one and one.get(s.name) else None
                c0 = agg(base[s.name], "cpu_us_per_req") if base and base.get(s.name) else None
                cpu_cells.append(f"{c0[0] / c1[0] * 100:.0f}% ({c1[0] - c0[0]:+.1f} us)" if c1 and c0 else "-")
            rows.append(row("W7", "unauthenticated / authenticated server CPU per request", cpu_cells, "-", blank,
                            note="less noisy than throughput on a shared machine; the difference is the "
                                 "gate's whole cost per request"))
            rows.append(row("W7", "authenticated / unauthenticated throughput (experiments/get c=64)", cells,
                            "-", blank, "≥ 90%", verdict,
                            "medians: one admin key on the real server / the open-gate baseline "
                            "(bench/micro/open_server.cpp: same server, handlers and store, no gate); "
                            "SQLite only"))
            targets_summary.append(("W7", "authenticated ≥ 90% of unauthenticated", "≥ 90%", ", ".join(cells), verdict))
            rows += w7_micro_rows(micro, hks, row, blank, targets_summary)
    return rows


def table_head(servers) -> list[str]:
    """Column names: `hokusai` and `ratio` for the SQLite variant alone (the table of earlier runs),
    else one `hokusai <store>` and one `ratio <store>` column per variant."""
    hks = [s for s in servers if s.family == "hokusai"]
    if len(hks) == 1 and hks[0].store == "sqlite":
        names, ratios = ["hokusai"], ["ratio"]
    else:
        names = [f"hokusai {s.store}" for s in hks]
        ratios = [f"ratio {s.store}" for s in hks]
    met = "met" if len(hks) == 1 else "met (" + " / ".join(s.store for s in hks) + ")"
    return ["workload", "metric", *names, "mlflow (best)", *ratios, "target", met, "note"]


def text_table(head, rows) -> str:
    numeric = range(2, len(head) - 3)  # the value and ratio columns are right-aligned
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head) - 1)]
    line = lambda r: "  ".join(  # noqa: E731
        (str(c).rjust(w[i]) if i in numeric else str(c).ljust(w[i])) if i < len(w) else str(c)
        for i, c in enumerate(r)).rstrip()
    sep = "  ".join("-" * x for x in w) + "  ----"
    out = [line(head), sep]
    prev = None
    for r in rows:
        if prev is not None and r[0] != prev:
            out.append("")
        out.append(line(r))
        prev = r[0]
    return "\n".join(out)


def md_table(head, rows) -> str:
    align = ["---", "---"] + ["---:"] * (len(head) - 5) + ["---", "---", "---"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def cmd_out(argv, timeout=60) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return (p.stdout.strip() or p.stderr.strip()).splitlines()[0]
    except Exception as e:  # noqa: BLE001 - informational only
        return f"unknown ({e})"


def sqlite_modes(path: str) -> str:
    """journal_mode of a database file, read with Python's sqlite3 (informational)."""
    try:
        import sqlite3
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        con.close()
        return f"journal_mode={mode}"
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


PG_SHOWN_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
                     "wal_sync_method", "shared_buffers", "max_wal_size", "checkpoint_timeout",
                     "autovacuum", "max_connections")


def pg_settings(url: str) -> str:
    """The PostgreSQL settings that bear on the numbers, read with psql (informational)."""
    names = ", ".join(f"'{n}'" for n in PG_SHOWN_SETTINGS)
    try:
        p = subprocess.run(["psql", "-X", "-A", "-t", "-F", "=", url, "-c",
                            f"SELECT name, setting || coalesce(unit, '') FROM pg_settings "
                            f"WHERE name IN ({names}) ORDER BY name"],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    if p.returncode != 0:
        return f"unknown (psql: {p.stderr.strip()[:200]})"
    return ", ".join(line.strip() for line in p.stdout.splitlines() if line.strip())


def machine_info(a, servers) -> list[tuple[str, str]]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    fs = "unknown"
    try:
        fs = subprocess.run(["df", "--output=fstype", a.tmp], capture_output=True, text=True,
                            timeout=10).stdout.split()[-1]
    except Exception:  # noqa: BLE001
        pass
    sqlite_py = cmd_out([a.mlflow_python, "-c", "import sqlite3; print(sqlite3.sqlite_version)"])
    sqlite_sys = cmd_out(["dpkg-query", "-W", "-f=${Version}", "libsqlite3-0"])
    if a.durability == "equal":
        dur = ("equal: both WAL with synchronous=FULL (hokusai `--sqlite-synchronous FULL`; MLflow's "
               "database file created in WAL mode before it starts, SQLite's default synchronous=FULL)")
    else:
        dur = ("defaults vs defaults: hokusai WAL + synchronous=NORMAL; MLflow SQLite's defaults "
               "(rollback journal, synchronous=FULL)")
    if "sqlite" in a.stores:
        dur += f"; measured: hokusai {sqlite_modes(a.hk_db)}, mlflow {sqlite_modes(a.ml_db)}"
    else:
        dur += f"; measured: mlflow {sqlite_modes(a.ml_db)}"
    if "postgres" in a.stores:
        dur += ("; hokusai on PostgreSQL: the server's defaults as scripts/postgres.sh sets it up "
                "(fsync=on, synchronous_commit=on: a commit waits for its WAL flush), in every mode")
    info = [
        ("date (UTC)", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
        ("nproc", str(os.cpu_count())),
        ("CPU model", model),
        ("memory", mem),
        ("kernel", platform.release()),
        ("load average at the end", open("/proc/loadavg").read().strip()),
        ("temp dir filesystem", f"{a.tmp} ({fs})"),
        ("hokusai-registry --version", cmd_out([a.hokusai_bin, "--version"])),
        ("hokusai binary", a.hokusai_bin),
        ("mlflow --version", cmd_out([a.mlflow_bin, "--version"])),
        ("mlflow variants", ", ".join(f"{s.name}: {s.variant}" for s in servers if s.kind == "mlflow")
         + " (same database and artifact directory; the table shows the best variant per workload)"),
        ("durability", dur),
        ("sqlite (hokusai: system libsqlite3-0)", sqlite_sys),
        ("sqlite (mlflow: python sqlite3 module)", sqlite_py),
        ("wrk", cmd_out(["wrk", "-v"]).split(" Copyright")[0]),
        ("hokusai variants", ", ".join(f"{s.name}: {s.store}, {s.variant}" for s in servers
                                       if s.family == "hokusai")),
    ]
    if "postgres" in a.stores:
        pg_fs = "unknown"
        try:
            pg_fs = subprocess.run(["df", "--output=fstype", a.pg_dir], capture_output=True, text=True,
                                   timeout=10).stdout.split()[-1]
        except Exception:  # noqa: BLE001
            pass
        info += [
            ("PostgreSQL (hokusai-pg)", "a cluster of its own made by scripts/postgres.sh (loopback TCP, "
             f"trust authentication), a fresh database; data in {a.pg_dir} ({pg_fs})"),
            ("PostgreSQL settings", pg_settings(a.pg_url)),
        ]
    for s in servers:
        info.append((f"{s.name} process tree", a.trees.get(s.name, "?")))
        for label in s.companions:
            info.append((f"{label} process tree (for {s.name})", a.trees.get(label, "?")))
    info += [
        ("idle CPU of each tree (3 s, % of one core)",
         ", ".join(f"{k} {v:.1f}%" for k, v in getattr(a, "idle", {}).items())),
        ("hokusai authentication", "on (its real configuration); every request, to all servers, "
         "carries `Authorization: Bearer <key>` with an admin API key created by "
         "`hokusai-registry keys create` before start-up (MLflow ignores the header); "
         "experiments/get without a key: "
         + ", ".join(f"{n} {st}" for n, st in getattr(a, "no_key_status", {}).items())),
        ("runs per measurement", f"BENCH_REPEAT={a.repeat}; median [min-max] over the quiet runs "
                                 "(noisy runs rejected unless all were noisy)"),
        ("duration per run", f"{a.seconds:g}s (+{a.warmup:g}s unmeasured warm-up)"),
        ("sizes", f"W3 {a.w3_runs} runs, W4 {a.w4_steps} steps, W7 {a.w7_keys} keys, W8 {a.w8_mb} MB"),
    ]
    seeds = getattr(a, "seed_times", {})
    if seeds:
        info.append(("seeding time (through REST)", ", ".join(f"{k} {v:.0f}s" for k, v in seeds.items())))
    micro = getattr(a, "micro", None)
    if micro and not micro["error"]:
        config = next((d for d in micro["lines"] if d.get("case") == "config"), {})
        seeded = ", ".join(f"{d['keys']:,} keys in {d['seed_seconds']:.1f}s" for d in micro["lines"]
                           if d.get("case") == "seed")
        info.append(("W7 in-process microbench", f"{a.microbench} ({config.get('build_type', '?')} build); "
                     f"{config.get('repeats')} timed loops of ≥ {config.get('seconds')}s per case after a "
                     f"{config.get('warmup_seconds')}s warm-up; stores seeded directly: {seeded}; "
                     f"{micro['wall_s']:.0f}s in all"))
    return info


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hokusai-bin", required=True)
    ap.add_argument("--mlflow-bin", required=True)
    ap.add_argument("--mlflow-python", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated workload ids: " + ",".join(ALL_IDS))
    ap.add_argument("--mlflow-workers", default="default,2",
                    help="comma-separated MLflow variants: `default` (its own default) or a worker count")
    ap.add_argument("--durability", choices=("defaults", "equal"), default="defaults")
    ap.add_argument("--w3-runs", type=int, default=100_000)
    ap.add_argument("--w4-steps", type=int, default=100_000)
    ap.add_argument("--w7-keys", type=int, default=10_000)
    ap.add_argument("--open-server", default="",
                    help="hokusai-bench-open-server (bench/micro/open_server.cpp): W7's unauthenticated "
                         "baseline on the SQLite store; empty: not measured")
    ap.add_argument("--microbench", default="",
                    help="hokusai-microbench for W7's in-process rows (empty: not measured)")
    ap.add_argument("--w7-micro-keys", default="10,10000,1000000",
                    help="numbers of stored keys for the microbench, comma-separated")
    ap.add_argument("--w8-mb", type=int, default=100)
    ap.add_argument("--seed-threads", type=int, default=8)
    ap.add_argument("--stores", default="sqlite",
                    help="hokusai variants, comma-separated: sqlite and/or postgres")
    ap.add_argument("--pg-url", default="",
                    help="an empty PostgreSQL database for the postgres variant (libpq URL)")
    ap.add_argument("--pg-dir", default="",
                    help="the cluster's directory (data/postmaster.pid names its process tree)")
    a = ap.parse_args()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)

    keep = set(x.strip() for x in a.only.split(",") if x.strip())
    bad = keep - set(ALL_IDS)
    if bad:
        log(f"unknown workload id(s): {', '.join(sorted(bad))}; known: {', '.join(ALL_IDS)}")
        return 1
    workloads = build_workloads(a)
    if keep:
        workloads = [w for w in workloads if w.wid in keep or w.group in keep]
    a.stores = [x.strip() for x in a.stores.split(",") if x.strip()]
    if not a.stores or set(a.stores) - {"sqlite", "postgres"} or len(set(a.stores)) != len(a.stores):
        log(f"--stores {','.join(a.stores)}: want sqlite and/or postgres")
        return 1
    if "postgres" in a.stores and not (a.pg_url and a.pg_dir):
        log("--stores postgres needs --pg-url and --pg-dir (bench/run starts the cluster)")
        return 1

    a.hk_db = os.path.join(a.tmp, "hk.db")
    a.ml_db = os.path.join(a.tmp, "mlflow.db")
    hk_store_uri = "sqlite:///" + a.hk_db
    # The key and the server must use the built-in key store and the `auth-secret` file beside the
    # database: do not inherit settings that would point either one elsewhere. The durability knob
    # is set explicitly below, not inherited.
    hk_env = {k: v for k, v in os.environ.items()
              if k not in ("HOKUSAI_AUTH_SERVICE_URL", "HOKUSAI_AUTH_SECRET", "HOKUSAI_AUTH_SECRET_FILE",
                           "HOKUSAI_BACKEND_STORE_URI", "HOKUSAI_SQLITE_SYNCHRONOUS",
                           "HOKUSAI_ARTIFACTS_DESTINATION", "HOKUSAI_WORKERS", "HOKUSAI_BLOCKING_THREADS",
                           "HOKUSAI_ACCESS_LOG")}
    used_ports: set[int] = set()

    def port() -> int:
        while True:
            p = free_port()
            if p not in used_ports:
                used_ports.add(p)
                return p

    hks: list[Server] = []
    store_uris: dict[str, str] = {}  # server name -> --backend-store-uri (also for `keys create`)
    if "sqlite" in a.stores:
        hk_port = port()
        hk_argv = [a.hokusai_bin, "serve", "--host", "127.0.0.1", "--port", str(hk_port),
                   "--backend-store-uri", hk_store_uri, "--access-log", "false",
                   "--artifacts-destination", os.path.join(a.tmp, "hk-artifacts")]
        if a.durability == "equal":
            hk_argv += ["--sqlite-synchronous", "FULL"]
        hk = Server("hokusai", hk_argv, hk_port, os.path.join(a.tmp, "hokusai.log"), env=hk_env)
        hk.variant = "defaults" if a.durability == "defaults" else "synchronous=FULL"
        store_uris[hk.name] = hk_store_uri
        hks.append(hk)
    if "postgres" in a.stores:
        # A PostgreSQL store has no `auth-secret` file beside it: the key-hashing secret comes from
        # the environment, for `keys create` and `serve` alike. Random per run; never printed.
        pg_env = dict(hk_env, HOKUSAI_AUTH_SECRET=secrets.token_hex(32))
        hkp_port = port()
        hkp_argv = [a.hokusai_bin, "serve", "--host", "127.0.0.1", "--port", str(hkp_port),
                    "--backend-store-uri", a.pg_url, "--access-log", "false",
                    "--artifacts-destination", os.path.join(a.tmp, "hk-pg-artifacts")]
        hkp = Server("hokusai-pg", hkp_argv, hkp_port, os.path.join(a.tmp, "hokusai-pg.log"), env=pg_env)
        hkp.kind, hkp.store = "hokusai-pg", "postgres"
        hkp.variant = "PostgreSQL defaults (fsync=on, synchronous_commit=on)"
        hkp.companions = {"postgres": postmaster_pid(a.pg_dir)}
        store_uris[hkp.name] = a.pg_url
        hks.append(hkp)
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    # As in an activated venv: MLflow's job runner starts `huey_consumer.py` found on PATH; without the
    # venv's bin directory it runs `python None`, fails and retries forever (CPU and stderr noise).
    env["PATH"] = os.path.dirname(os.path.abspath(a.mlflow_bin)) + os.pathsep + env.get("PATH", "")
    mls = []
    for v in [x.strip() for x in a.mlflow_workers.split(",") if x.strip()]:
        p = port()
        argv = [a.mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(p),
                "--backend-store-uri", "sqlite:///" + a.ml_db,
                "--default-artifact-root", os.path.join(a.tmp, "ml-art"),
                "--artifacts-destination", os.path.join(a.tmp, "ml-art")]
        name = "mlflow" if v == "default" else f"mlflow-{v}w"
        if v != "default":
            argv += ["--workers", v]
        s = Server(name, argv, p, os.path.join(a.tmp, f"{name}.log"), env=env)
        s.kind = "mlflow"
        s.variant = "default workers (4)" if v == "default" else f"{v} workers"
        mls.append(s)
    if not mls:
        log("--mlflow-workers names no variant")
        return 1
    servers = hks + mls
    # Servers of one kind share a store, and so the seeding and its context.
    kinds: dict[str, list[Server]] = {}
    for s in servers:
        kinds.setdefault(s.kind, []).append(s)
    ctx = {kind: {"pidfile": a.pidfile} for kind in kinds}
    a.seed_times = {}
    a.setup_failures = {}  # workload group -> why MLflow could not be set up for it
    exit_code = 0
    results = []
    open_srv = None  # W7's open-gate baseline server, started when its workload comes
    try:
        for s in hks:
            api_key = create_api_key(a.hokusai_bin, store_uris[s.name], s.env)
            log(f"created an admin API key for {s.name} (keys create, same store); not shown")
            s.headers = {"Authorization": f"Bearer {api_key}"}
        for s in mls:  # MLflow ignores the header: all servers parse the same request bytes
            s.headers = dict(hks[0].headers)
        if a.durability == "equal":
            import sqlite3
            con = sqlite3.connect(a.ml_db)
            con.execute("PRAGMA journal_mode=WAL")  # persistent in the file; MLflow creates its tables in it
            con.close()
        for s in hks:
            s.start(a.pidfile)
            s.wait_healthy(30)
            log(f"{s.name} healthy on 127.0.0.1:{s.port} (pid {s.pid})")
        for s in mls:  # one after the other: the first one creates the database schema
            s.start(a.pidfile)
            s.wait_healthy(180)
            waited = s.settle()
            log(f"{s.name} ({s.variant}) healthy on 127.0.0.1:{s.port} (pid {s.pid}, "
                f"{len(process_tree(s.pid))} processes in tree, idle after {waited:.0f}s more)")
        a.trees = {}
        for s in servers:
            a.trees[s.name] = describe_tree(s.pid)
            log(f"{s.name} process tree: {a.trees[s.name]}")
        for s in hks:
            for label, root in s.companions.items():
                a.trees[label] = describe_tree(root)
                log(f"{label} process tree (for {s.name}): {a.trees[label]}")
        for s in servers:
            addrs = listening_addresses(process_tree(s.pid))
            bad = [x for x in addrs if not x.startswith("127.0.0.1:")]
            if bad:
                raise RuntimeError(f"{s.name} listens beyond loopback: {bad}")
        for kind, ss in kinds.items():
            seed_base(ss[0], ctx[kind], a, ss)
        a.no_key_status = {k: c["status_without_key"] for k, c in ctx.items()}
        log("experiments/get without the key: " + ", ".join(f"{n} {st}" for n, st in a.no_key_status.items()))
        for s in hks:
            if a.no_key_status[s.kind] != 401:
                log(f"warning: {s.name} answered experiments/get without a key with "
                    f"{a.no_key_status[s.kind]}, expected 401 (is authentication off?)")
        for s in servers:
            s.settle()
        trees = {s.name: s.pid for s in servers}
        trees.update({label: root for s in hks for label, root in s.companions.items()})
        c0 = {n: tree_cpu_ticks(p) for n, p in trees.items()}
        time.sleep(3.0)
        a.idle = {n: (tree_cpu_ticks(p) - c0[n]) / CLK_TCK / 3.0 * 100 for n, p in trees.items()}
        log("idle CPU (% of one core): " + ", ".join(f"{k} {v:.1f}%" for k, v in a.idle.items()))

        done_setups: set[str] = set()
        for i, wl in enumerate(workloads):
            wl_servers = [s for s in servers if s.family in wl.kinds]
            if wl.group in SETUPS and wl.group not in done_setups:
                # MLflow's workers go on computing requests wrk abandoned at the end of the last
                # run; seeding into that exhausts its connection pool.
                for s in servers:
                    s.settle()
                for kind in [k for k, ss in kinds.items() if ss[0].family in wl.kinds]:
                    log(f"setting up {wl.group} on {kind}")
                    t = time.monotonic()
                    try:
                        SETUPS[wl.group](kinds[kind][0], ctx[kind], a, kinds[kind])
                    except ServerError as e:
                        if kind != "mlflow":
                            raise
                        # MLflow failing to take the seeding is a result about MLflow: its
                        # column stays empty for this group, the run goes on.
                        a.setup_failures[wl.group] = str(e)[:300]
                        log(f"  {wl.group} not measured on mlflow: its set-up failed: {str(e)[:300]}")
                    a.seed_times[f"{wl.group} {kind}"] = time.monotonic() - t
                done_setups.add(wl.group)
                for s in servers:
                    s.settle()
            if wl.group in a.setup_failures:
                wl_servers = [s for s in wl_servers if s.kind != "mlflow"]
            if wl.requires and any(wl.requires not in ctx[s.kind] for s in wl_servers):
                log(f"skipping {wl.label}: nothing to measure at this size ({wl.requires} not set up)")
                continue
            if wl.open_baseline:
                wl_servers = [s for s in wl_servers if s.kind == "hokusai"]
                if not a.open_server or not wl_servers:
                    log(f"skipping {wl.label}: no --open-server, or no SQLite hokusai server")
                    continue
                if open_srv is None:
                    open_srv = start_open_server(a, wl_servers[0], port(), servers)
            reps: dict[str, list[dict]] = {s.name: [] for s in wl_servers}
            for rep in range(a.repeat):
                k = (i + rep) % len(wl_servers)
                for s in wl_servers[k:] + wl_servers[:k]:  # rotate who goes first
                    prep = wl.prepare(s, ctx[s.kind], wl, rep) if wl.prepare else {}
                    log(f"{wl.label} [{rep + 1}/{a.repeat}]: {s.name} ...")
                    measured = open_srv if wl.open_baseline else s
                    r = RUNNERS[wl.kind](measured, servers + ([open_srv] if open_srv else []), wl, ctx[s.kind],
                                         prep, a.seconds, a.warmup)
                    if wl.verify:
                        try:
                            r["verify"] = wl.verify(s, ctx[s.kind], wl, prep, r)
                        except ServerError as e:
                            if s.kind != "mlflow":
                                raise
                            # MLflow failing its own check read (e.g. its connection pool
                            # exhausted after c=16) is a result about MLflow, not a harness failure
                            r["verify"] = f"CHECK READ FAILED ({s.name}: {str(e)[:160]})"
                            log(f"  verify: {r['verify']}")
                    first = metric_list(wl)[0]
                    log(f"  {first[0]} {fmt_num(r.get(first[1]))}, p50 {fmt_num(r.get('p50_ms'))} ms, "
                        f"p99 {fmt_num(r.get('p99_ms'))} ms, {fmt_num(r.get('cpu_us_per_req'))} us CPU/req, "
                        f"errors {r['errors']}"
                        + (f", noisy: {[(n, p, round(f, 2)) for n, p, f in r['noisy'][:2]]}" if r["noisy"] else ""))
                    reps[s.name].append(r)
            results.append((wl, reps))
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping servers")
        exit_code = 130
    except ServerError as e:
        log(f"FAILED: {e}")
        exit_code = 2 if e.kind.startswith("hokusai") else 1
    except Exception as e:  # noqa: BLE001
        import traceback
        log(f"FAILED: {e}\n{traceback.format_exc()}")
        for s in servers:
            log(f"--- {s.name} log tail ---\n{tail(s.logpath)}")
        exit_code = 1
    finally:
        for s in servers + ([open_srv] if open_srv else []):
            s.stop()
    a.micro = None
    if exit_code == 0 and a.microbench and any(wl.wid == "W7" for wl, _ in results):
        try:  # after the servers stopped: nothing of ours competes with it for the cores
            a.micro = run_microbench(a)
        except KeyboardInterrupt as e:
            log(f"interrupted ({e})")
            exit_code = 130
    if not results:
        return exit_code or 1

    targets_summary: list = []
    rows = build_rows(results, servers, targets_summary, a.micro)
    head = table_head(servers)
    table = text_table(head, rows)
    print()
    print(table)
    print()
    hk_err = sum(r["errors"] for _, reps in results for s in hks for r in reps.get(s.name, []))
    ml_err = sum(r["errors"] for _, reps in results for s in mls for r in reps.get(s.name, []))
    noisy = [wl.label for wl, reps in results if any(r.get("noisy") for rr in reps.values() for r in rr)]
    verify_bad = [wl.label for wl, reps in results
                  if any(r.get("verify", "ok") != "ok" for rr in reps.values() for r in rr)]
    summary = []
    if exit_code:
        summary.append(f"INCOMPLETE: the run stopped early (exit {exit_code}); only the workloads above ran.")
    if hk_err:
        summary.append(f"INVALID: hokusai returned {hk_err} errors (non-2xx or socket) — "
                       "see notes; the hokusai numbers are not trustworthy.")
        exit_code = exit_code or 2
    if ml_err:
        summary.append(f"mlflow returned {ml_err} errors (non-2xx or socket); rows marked INVALID.")
    if verify_bad:
        summary.append("row-count verification failed for: " + ", ".join(verify_bad))
        exit_code = exit_code or 2
    if noisy:
        summary.append("noisy runs (another process used > 20% CPU): " + ", ".join(noisy))
    for group, why in a.setup_failures.items():
        summary.append(f"{group} not measured on MLflow: its set-up through the REST API failed ({why})")
    if a.micro and a.micro["error"]:
        summary.append(f"W7 in-process microbench failed: {a.micro['error']}")
        exit_code = exit_code or 1
    tsum = ["Targets (hokusai, median of the quiet runs):"] + [
        f"  {'MET ' if met == 'yes' else ('n/a ' if met == 'n/a' else 'MISS')} {lab}: {what} {tgt} (measured {val})"
        for lab, what, tgt, val, met in targets_summary]
    for s in summary + tsum:
        print(s)

    info = machine_info(a, servers)
    os.makedirs(os.path.dirname(a.results), exist_ok=True)
    with open(a.results, "w") as f:
        f.write("# Hokusai Registry vs MLflow — benchmark results\n\n")
        f.write("Generated by `bench/run`. Cells: median [min-max] over the repeated runs. Ratios: "
                "hokusai/mlflow for throughput, mlflow/hokusai for latency, CPU and RSS — **> 1 means "
                "hokusai is better**. `mlflow (best)`: the MLflow variant with the better median on "
                "the workload's first metric.")
        if len(hks) > 1 or hks[0].store != "sqlite":
            f.write(" One `hokusai <store>` column and one `ratio <store>` column per store hokusai "
                    "ran on (same binary, workloads and seeding). `server CPU` is each server's own "
                    "process tree; for the PostgreSQL variant `PostgreSQL CPU` is the cluster's "
                    "processes over the same run (backends, WAL writer, checkpointer, autovacuum), and "
                    "`server + database CPU` adds the two (for SQLite and MLflow the database runs "
                    "inside the server, so it equals `server CPU`).")
        f.write("\n\n")
        f.write("## Machine and settings\n\n| | |\n|---|---|\n")
        for k, v in info:
            f.write(f"| {k} | {str(v).replace('|', '/')} |\n")
        f.write("\n## Results\n\n")
        f.write(md_table(head, rows) + "\n\n")
        f.write("## Targets\n\n| workload | target | measured | met |\n|---|---|---|---|\n")
        for lab, what, tgt, val, met in targets_summary:
            f.write(f"| {lab} | {what} {tgt} | {val} | {met} |\n")
        f.write("\n")
        if summary:
            f.write("## Warnings\n\n" + "".join(f"- {s}\n" for s in summary) + "\n")
        f.write("## Commands\n\n")
        for wl, reps in results:
            cmds = {r["cmd"] for rr in reps.values() for r in rr if "cmd" in r}
            for c in sorted(cmds):
                f.write(f"- {wl.label}: `{c}`\n")
        if a.micro:
            f.write(f"- W7 in-process: `{a.micro['cmd']}`\n")
        kb = [(wl.label, n, r["kbusy"]) for wl, reps in results for n, rr in reps.items() for r in rr[:1]
              if r.get("kbusy")]
        if kb:
            f.write("\n## Busy kernel threads (not counted as noise)\n\n")
            for lab, n, v in kb:
                f.write(f"- {lab} / {n}: " + ", ".join(f"{c}[{p}] {x*100:.0f}%" for c, p, x in v[:3]) + "\n")
    raw_path = os.path.join(os.path.dirname(a.results), "latest-raw.json")
    with open(raw_path, "w") as f:
        raw = [{"workload": wl.label, "runs": reps} for wl, reps in results]
        if a.micro:
            raw.append({"workload": "W7 in-process (hokusai-microbench)", "runs": [a.micro]})
        json.dump(raw, f, indent=1, default=str)
    log(f"wrote {a.results} and {raw_path}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
