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
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NOISE_THRESHOLD = 0.20  # fraction of one CPU
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
                 label_roots: dict[str, int] | None = None):
        self.exclude_roots = exclude_roots
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
        for key, last in self.last.items():
            if self.names.get(key) == "__excluded__" or key[0] in self.excluded:
                continue
            frac = (last - self.base[key]) / CLK_TCK / wall
            if frac > NOISE_THRESHOLD:
                name = self.names[key]
                for label, root in self.label_roots.items():
                    if key[0] in process_tree(root):
                        name += f" ({label})"
                (kbusy if key in self.kthread else busy).append((name, key[0], frac))
        busy.sort(key=lambda x: -x[2])
        kbusy.sort(key=lambda x: -x[2])
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

    def start(self, pidfile: str):
        self.logf = open(self.logpath, "wb")
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
        """Waits until the whole process tree is idle (all workers finished importing), so
        start-up CPU is not billed to the first workload. Returns the seconds waited."""
        t0 = time.monotonic()
        prev = tree_cpu_ticks(self.pid)
        quiet = 0
        while time.monotonic() - t0 < max_wait and quiet < 3:
            time.sleep(1.0)
            cur = tree_cpu_ticks(self.pid)
            quiet = quiet + 1 if (cur - prev) / CLK_TCK < idle_frac else 0
            prev = cur
        return time.monotonic() - t0

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
    for needle, name in (("spawn_main", "uvicorn worker"), ("resource_tracker", "resource tracker"),
                         ("_job_runner", "mlflow job runner"), ("-m uvicorn", "uvicorn supervisor"),
                         ("mlflow server", "mlflow server"), ("huey", "huey consumer")):
        if needle in cmdline:
            return name
    argv = cmdline.split()
    return " ".join([os.path.basename(argv[0])] + argv[1:2]) if argv else "?"


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
        r[f"p{pct}_ms"] = parse_duration_ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["sock"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    r["errors"] = r["non2xx"] + sum(r["sock"].values())
    return r


def wrk_cmd(url: str, conns: int, seconds: float, script: str | None, args: list[str],
            headers: dict[str, str] | None = None):
    threads = min(2, conns)
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds:g}s", "--latency",
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
# workloads


class Workload:
    def __init__(self, wid, label, conns, path_fn, script=None, args_fn=None, metrics=0):
        self.wid, self.label, self.conns = wid, label, conns
        self.path_fn, self.script, self.args_fn, self.metrics = path_fn, script, args_fn, metrics


def run_one(srv: Server, other: Server, wl: Workload, ctx: dict, seconds: float, warmup: float):
    url = srv.base + wl.path_fn(ctx[srv.name])
    args = wl.args_fn(ctx[srv.name]) if wl.args_fn else []
    labels = {f"idle bench {other.name}": other.pid}
    pre_busy, load = precheck_noise([srv.pid], labels, 1.0)
    if pre_busy:
        log(f"  pre-check: busy before {wl.label} on {srv.name}: "
            + ", ".join(f"{n}[{p}] {f*100:.0f}%" for n, p, f in pre_busy[:3]) + f" (load {load})")
    result = {"warmup": None}
    if warmup > 0:
        wcmd = wrk_cmd(url, wl.conns, warmup, wl.script,
                       wl.args_fn(ctx[srv.name], warm=True) if wl.args_fn else [], srv.headers)
        out = subprocess.run(wcmd, capture_output=True, text=True, timeout=warmup + 60).stdout
        result["warmup"] = parse_wrk(out)
    cmd = wrk_cmd(url, wl.conns, seconds, wl.script, args, srv.headers)
    mon = NoiseMonitor([srv.pid], label_roots=labels)
    cpu0 = tree_cpu_ticks(srv.pid)
    mon.start()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mon.extra_exclude.add(p.pid)
    try:
        out, _ = p.communicate(timeout=seconds + 90)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        raise RuntimeError(f"wrk hung: {show_cmd(cmd, srv.headers)}")
    busy, kbusy = mon.stop()
    cpu1 = tree_cpu_ticks(srv.pid)
    r = parse_wrk(out)
    r.update(result)
    r["raw"] = out
    r["cmd"] = show_cmd(cmd, srv.headers)
    r["cpu_us_per_req"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / max(r["requests"], 1)
    r["cpu_cores"] = (cpu1 - cpu0) / CLK_TCK / max(r["duration_s"], 1e-6)
    r["rss_mib"] = tree_rss_bytes(srv.pid) / (1 << 20)
    r["noisy"] = busy
    r["kbusy"] = kbusy
    r["pre_busy"] = pre_busy
    if wl.metrics:
        r["metrics_per_s"] = r["rps"] * wl.metrics
    return r


def seed(srv: Server) -> dict:
    base = srv.base + "/api/2.0/mlflow"
    h = srv.headers
    exp = http_json("POST", base + "/experiments/create", {"name": "bench-experiment"}, headers=h)
    eid = exp["experiment_id"]
    runs = {}
    for c in (1, 4):  # one run per log-batch concurrency so row counts can be verified per run
        d = http_json("POST", base + "/runs/create",
                      {"experiment_id": eid, "start_time": int(time.time() * 1000),
                       "run_name": f"bench-c{c}"}, headers=h)
        runs[c] = d["run"]["info"]["run_id"]
    # sanity: the read paths we load answer 200 with the seeded data
    got = http_json("GET", base + f"/experiments/get?experiment_id={eid}", headers=h)
    assert got["experiment"]["name"] == "bench-experiment", got
    st, body = http("GET", srv.base + "/health", headers=h)
    assert st == 200, (st, body)
    # record whether the server really enforces authentication (no key -> expect 401 from hokusai)
    st, _ = http("GET", base + f"/experiments/get?experiment_id={eid}")
    return {"experiment_id": eid, "runs": runs, "status_without_key": st}


# --------------------------------------------------------------------------------------------
# report


def fmt_num(v: float) -> str:
    if v != v:
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


def ratio(h: float, m: float, higher_better: bool) -> str:
    try:
        r = h / m if higher_better else m / h
    except ZeroDivisionError:
        return "n/a"
    if r != r or r in (float("inf"), float("-inf")):
        return "n/a"
    return f"{r:.2f}x"


def noise_note(tag: str, r: dict) -> list[str]:
    notes = []
    if r["noisy"]:
        notes.append(f"noisy ({tag}: " + ", ".join(
            f"{n}[{p}] {f*100:.0f}%" for n, p, f in r["noisy"][:2]) + ")")
    if r["errors"]:
        s = r["sock"]
        notes.append(f"INVALID ({tag}: {r['non2xx']} non-2xx, socket c/r/w/t "
                     f"{s['connect']}/{s['read']}/{s['write']}/{s['timeout']})")
    return notes


def build_rows(results):
    rows = []
    for wl, h, m in results:
        notes = noise_note("hokusai", h) + noise_note("mlflow", m)
        for extra in (h.get("verify"), m.get("verify")):
            if extra and not extra.startswith("ok"):
                notes.append(extra)
        note = "; ".join(notes)
        metrics = [("requests/s", "rps", True)]
        if wl.metrics:
            metrics.append(("metrics/s", "metrics_per_s", True))
        metrics += [("p50 latency ms", "p50_ms", False), ("p99 latency ms", "p99_ms", False),
                    ("server CPU us/request", "cpu_us_per_req", False),
                    ("server RSS MiB (tree)", "rss_mib", False)]
        for i, (label, key, hb) in enumerate(metrics):
            rows.append([wl.label, label, fmt_num(h[key]), fmt_num(m[key]),
                         ratio(h[key], m[key], hb), note if i == 0 else ""])
        rows.append([wl.label, "errors (non-2xx + socket)", str(h["errors"]), str(m["errors"]),
                     "", ""])
    return rows


HEAD = ["workload", "metric", "hokusai", "mlflow", "ratio", "note"]


def text_table(rows) -> str:
    w = [max(len(str(r[i])) for r in rows + [HEAD]) for i in range(len(HEAD))]
    line = lambda r: "  ".join(str(c).ljust(w[i]) if i < 2 or i == 5 else str(c).rjust(w[i])
                               for i, c in enumerate(r)).rstrip()
    sep = "  ".join("-" * x for x in w)
    out = [line(HEAD), sep]
    prev = None
    for r in rows:
        if prev is not None and r[0] != prev:
            out.append("")
        out.append(line(r))
        prev = r[0]
    return "\n".join(out)


def md_table(rows) -> str:
    out = ["| " + " | ".join(HEAD) + " |", "|" + "|".join(["---", "---", "---:", "---:", "---:", "---"]) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def cmd_out(argv, timeout=60) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return (p.stdout.strip() or p.stderr.strip()).splitlines()[0]
    except Exception as e:  # noqa: BLE001 - informational only
        return f"unknown ({e})"


def machine_info(a) -> list[tuple[str, str]]:
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
    return [
        ("date (UTC)", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
        ("nproc", str(os.cpu_count())),
        ("CPU model", model),
        ("memory", mem),
        ("kernel", platform.release()),
        ("temp dir filesystem", f"{a.tmp} ({fs})"),
        ("hokusai-registry --version", cmd_out([a.hokusai_bin, "--version"])),
        ("hokusai binary", a.hokusai_bin),
        ("mlflow --version", cmd_out([a.mlflow_bin, "--version"])),
        ("sqlite (hokusai: system libsqlite3-0)", sqlite_sys),
        ("sqlite (mlflow: python sqlite3 module)", sqlite_py),
        ("wrk", cmd_out(["wrk", "-v"]).split(" Copyright")[0]),
        ("hokusai process tree", a.trees.get("hokusai", "?")),
        ("mlflow process tree", a.trees.get("mlflow", "?")),
        ("idle CPU of each tree (3 s, % of one core)",
         ", ".join(f"{k} {v:.1f}%" for k, v in getattr(a, "idle", {}).items())),
        ("hokusai authentication", "on (its real configuration); every request, to both servers, "
         "carries `Authorization: Bearer <key>` with an admin API key created by "
         "`hokusai-registry keys create` before start-up (MLflow ignores the header); "
         "experiments/get without a key: "
         + ", ".join(f"{n} {st}" for n, st in getattr(a, "no_key_status", {}).items())),
        ("duration per run", f"{a.seconds:g}s (+{a.warmup:g}s unmeasured warm-up)"),
    ]


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
    ap.add_argument("--only", default="", help="comma-separated workload ids (W0a,W0b,W1)")
    a = ap.parse_args()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)

    hk_port, ml_port = free_port(), free_port()
    while ml_port == hk_port:
        ml_port = free_port()
    hk_db = os.path.join(a.tmp, "hk.db")
    hk_store_uri = "sqlite:///" + hk_db
    # The key and the server must use the built-in key store and the `auth-secret` file beside the
    # database: do not inherit settings that would point either one elsewhere.
    hk_env = {k: v for k, v in os.environ.items()
              if k not in ("HOKUSAI_AUTH_SERVICE_URL", "HOKUSAI_AUTH_SECRET",
                           "HOKUSAI_AUTH_SECRET_FILE", "HOKUSAI_BACKEND_STORE_URI")}
    hk = Server("hokusai", [a.hokusai_bin, "serve", "--host", "127.0.0.1", "--port", str(hk_port),
                            "--backend-store-uri", hk_store_uri, "--access-log", "false"],
                hk_port, os.path.join(a.tmp, "hokusai.log"), env=hk_env)
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    ml = Server("mlflow", [a.mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(ml_port),
                           "--backend-store-uri", "sqlite:///" + os.path.join(a.tmp, "mlflow.db"),
                           "--default-artifact-root", os.path.join(a.tmp, "art")],
                ml_port, os.path.join(a.tmp, "mlflow.log"), env=env)
    servers = [hk, ml]
    exit_code = 0
    try:
        api_key = create_api_key(a.hokusai_bin, hk_store_uri, hk_env)
        log("created an admin API key for hokusai (keys create, same store); not shown")
        auth = {"Authorization": f"Bearer {api_key}"}
        hk.headers = dict(auth)
        ml.headers = dict(auth)  # ignored by MLflow; both servers get the same headers
        for s in servers:
            s.start(a.pidfile)
        hk.wait_healthy(30)
        log(f"hokusai healthy on 127.0.0.1:{hk_port} (pid {hk.pid})")
        ml.wait_healthy(180)
        waited = ml.settle()
        log(f"mlflow healthy on 127.0.0.1:{ml_port} (pid {ml.pid}, "
            f"{len(process_tree(ml.pid))} processes in tree, idle after {waited:.0f}s more)")
        a.trees = {}
        for s in servers:
            descs: dict[str, int] = {}
            for p in process_tree(s.pid):
                try:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    continue
                d = describe_process(cmdline)
                descs[d] = descs.get(d, 0) + 1
            a.trees[s.name] = f"{sum(descs.values())} processes: " + ", ".join(
                (f"{n} x {d}" if n > 1 else d) for d, n in descs.items())
            log(f"{s.name} process tree: {a.trees[s.name]}")
        for s in servers:
            addrs = listening_addresses(process_tree(s.pid))
            bad = [x for x in addrs if not x.startswith("127.0.0.1:")]
            if bad:
                raise RuntimeError(f"{s.name} listens beyond loopback: {bad}")
        ctx = {s.name: seed(s) for s in servers}
        a.no_key_status = {n: c.pop("status_without_key") for n, c in ctx.items()}
        log("seeded: " + json.dumps(ctx))
        log("experiments/get without the key: "
            + ", ".join(f"{n} {st}" for n, st in a.no_key_status.items()))
        if a.no_key_status["hokusai"] != 401:
            log("warning: hokusai answered experiments/get without a key with "
                f"{a.no_key_status['hokusai']}, expected 401 (is authentication off?)")
        for s in servers:
            s.settle()
        # Idle cost of each process tree: part of every CPU-per-request figure, and dominant
        # when a server completes few requests per second.
        c0 = {s.name: tree_cpu_ticks(s.pid) for s in servers}
        time.sleep(3.0)
        a.idle = {s.name: (tree_cpu_ticks(s.pid) - c0[s.name]) / CLK_TCK / 3.0 * 100 for s in servers}
        log("idle CPU (% of one core): " + ", ".join(f"{k} {v:.1f}%" for k, v in a.idle.items()))

        lua = os.path.join(HERE, "lua", "log_batch.lua")

        def lb_args(c):
            def f(sctx, warm=False):
                # disjoint step ranges for warm-up and measured run
                base = 0 if warm else 500_000_000
                return [sctx["runs"][c], str(base), str(METRICS_PER_REQUEST)]
            return f

        workloads = [
            Workload("W0a", "W0a GET /health c=64", 64, lambda c: "/health"),
            Workload("W0a", "W0a GET /health c=1", 1, lambda c: "/health"),
            Workload("W0b", "W0b experiments/get c=64", 64,
                     lambda c: f"/api/2.0/mlflow/experiments/get?experiment_id={c['experiment_id']}"),
            Workload("W0b", "W0b experiments/get c=1", 1,
                     lambda c: f"/api/2.0/mlflow/experiments/get?experiment_id={c['experiment_id']}"),
            Workload("W1", "W1 log-batch 1000 metrics c=1", 1, lambda c: "/api/2.0/mlflow/runs/log-batch",
                     script=lua, args_fn=lb_args(1), metrics=METRICS_PER_REQUEST),
            Workload("W1", "W1 log-batch 1000 metrics c=4", 4, lambda c: "/api/2.0/mlflow/runs/log-batch",
                     script=lua, args_fn=lb_args(4), metrics=METRICS_PER_REQUEST),
        ]
        if a.only:
            keep = set(a.only.split(","))
            workloads = [w for w in workloads if w.wid in keep]

        results = []
        for i, wl in enumerate(workloads):
            pair = {}
            # alternate which server goes first so slow drift does not favour one side
            order = [hk, ml] if i % 2 == 0 else [ml, hk]
            for s in order:
                log(f"{wl.label}: {s.name} ...")
                r = run_one(s, ml if s is hk else hk, wl, ctx, a.seconds, a.warmup)
                log(f"  {r['rps']:.0f} req/s, p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
                    f"{r['cpu_us_per_req']:.0f} us CPU/req, errors {r['errors']}"
                    + (f", noisy: {r['noisy'][:2]}" if r["noisy"] else ""))
                if wl.metrics:
                    run_id = ctx[s.name]["runs"][wl.conns]
                    ok_reqs = r["requests"] - r["non2xx"]
                    if r["warmup"]:
                        ok_reqs += r["warmup"]["requests"] - r["warmup"]["non2xx"]
                    slack = wl.conns * 2  # in-flight requests when wrk stops are not counted
                    counts = {k: metric_steps(s, run_id, k) for k in ("m0", f"m{wl.metrics-1}")}
                    good = all(ok_reqs <= v <= ok_reqs + slack for v in counts.values())
                    r["verify"] = ("ok" if good else
                                   f"ROWS MISMATCH ({s.name}: {counts} distinct steps vs "
                                   f"{ok_reqs} successful requests)")
                    log(f"  verify: {counts} distinct steps per key for {ok_reqs} counted requests "
                        f"-> {r['verify']}")
                pair[s.name] = r
            results.append((wl, pair["hokusai"], pair["mlflow"]))

        rows = build_rows(results)
        table = text_table(rows)
        print()
        print(table)
        print()
        print("hokusai: authentication on, every request authenticated with an admin API key "
              "(the same Authorization header is sent to MLflow, which ignores it).")
        print()
        info = machine_info(a)
        hk_err = sum(h["errors"] for _, h, _ in results)
        ml_err = sum(m["errors"] for _, _, m in results)
        noisy = [wl.label for wl, h, m in results if h["noisy"] or m["noisy"]]
        verify_bad = [wl.label for wl, h, m in results
                      if any(x.get("verify", "ok") != "ok" for x in (h, m))]
        summary = []
        if hk_err:
            summary.append(f"INVALID: hokusai returned {hk_err} errors (non-2xx or socket) — "
                           "see notes; the hokusai numbers are not trustworthy.")
            exit_code = 2
        if ml_err:
            summary.append(f"mlflow returned {ml_err} errors (non-2xx or socket); rows marked INVALID.")
        if verify_bad:
            summary.append("row-count verification failed for: " + ", ".join(verify_bad))
            exit_code = 2
        if noisy:
            summary.append("noisy (another process used > 20% CPU during the run): " + ", ".join(noisy))
        for s in summary:
            print(s)

        os.makedirs(os.path.dirname(a.results), exist_ok=True)
        with open(a.results, "w") as f:
            f.write("# Hokusai Registry vs MLflow — benchmark results\n\n")
            f.write("Generated by `bench/run`. Ratios: hokusai/mlflow for throughput, "
                    "mlflow/hokusai for latency, CPU and RSS — **> 1 means hokusai is better**.\n\n")
            f.write("hokusai runs with authentication on (its real configuration): every request "
                    "is authenticated with an admin API key (`Authorization: Bearer`, also sent "
                    "to MLflow, which ignores it).\n\n")
            f.write("## Machine\n\n| | |\n|---|---|\n")
            for k, v in info:
                f.write(f"| {k} | {v} |\n")
            f.write("\n## Results\n\n")
            f.write(md_table(rows) + "\n\n")
            if summary:
                f.write("## Warnings\n\n" + "".join(f"- {s}\n" for s in summary) + "\n")
            f.write("## wrk commands\n\n")
            for wl, h, m in results:
                f.write(f"- {wl.label}: `{h['cmd']}` / `{m['cmd']}`\n")
            kb = {(wl.label, n): r["kbusy"] for wl, h, m in results for n, r in (("hokusai", h), ("mlflow", m))
                  if r["kbusy"]}
            if kb:
                f.write("\n## Busy kernel threads (not counted as noise)\n\n")
                for (lab, n), v in kb.items():
                    f.write(f"- {lab} / {n}: " + ", ".join(f"{c}[{p}] {x*100:.0f}%" for c, p, x in v[:3]) + "\n")
        raw_path = os.path.join(os.path.dirname(a.results), "latest-raw.json")
        with open(raw_path, "w") as f:
            json.dump([{"workload": wl.label, "hokusai": h, "mlflow": m} for wl, h, m in results],
                      f, indent=1, default=str)
        log(f"wrote {a.results} and {raw_path}")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping servers")
        exit_code = 130
    except Exception as e:  # noqa: BLE001
        log(f"FAILED: {e}")
        for s in servers:
            log(f"--- {s.name} log tail ---\n{tail(s.logpath)}")
        exit_code = 1
    finally:
        for s in servers:
            s.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
