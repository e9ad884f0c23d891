#!/usr/bin/python3
"""bench.py: casegate's benchmarks (intake vs nginx, durability cost, drain, footprint) -> bench/RESULTS.md.

Run through bench/run.sh (builds a release binary first). Environment:
  CG_BENCH_BUILD     build directory with casegate and casegate-sim (required)
  CG_BENCH_DURATION  seconds per wrk run (default 10)
  CG_BENCH_DRAIN     events for the unlimited drain (default 100000)
  CG_BENCH_FOOTPRINT queued events for the footprint run (default 1000000)
  CG_BENCH_OUT       results file (default bench/RESULTS.md)
  --smoke            tiny sizes, 1 s runs, results to a temp file: checks the harness, not numbers
The PostgreSQL backend has its own script (bench_pg.py, `run.sh --pg`), and so has the alert
storm (bench_storm.py, `run.sh --storm`); their sections of the results file are kept when this
one rewrites the file.
"""
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
SMOKE = "--smoke" in sys.argv
BUILD = os.environ.get("CG_BENCH_BUILD", os.path.join(SRC, "build-bench"))
DUR = 1 if SMOKE else int(os.environ.get("CG_BENCH_DURATION", "10"))
DRAIN_N = 2000 if SMOKE else int(os.environ.get("CG_BENCH_DRAIN", "100000"))
FOOT_N = 20000 if SMOKE else int(os.environ.get("CG_BENCH_FOOTPRINT", "1000000"))
OUT = os.environ.get("CG_BENCH_OUT") or (os.path.join(tempfile.gettempdir(), "casegate-bench-smoke.md") if SMOKE
                                         else os.path.join(HERE, "RESULTS.md"))
CONC = 64
TOKEN = "bench-token"

SOURCE = """sources:
  - name: am
    type: alertmanager
    auth: { bearer: %s }
    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e
    case_type: 00000000-0000-0000-0000-000000000001
""" % TOKEN


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


class Proc:
    def __init__(self, name, argv, tmp):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        self.logf = open(self.log_path, "w")
        self.t0 = time.time()
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, pattern, deadline_s=120):
        end = time.time() + deadline_s
        while time.time() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError("%s: no %r: %s" % (self.name, pattern, self.text()[-2000:]))

    def rss_mb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        return int(m.group(1)) / 1024.0

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


def sim(tmp, *extra):
    p = Proc("sim", [os.path.join(BUILD, "casegate-sim"), "--listen", "127.0.0.1:0", "--no-auth",
                     "--log-level", "error"] + list(extra), tmp)
    port = int(p.wait_for(r"casegate-sim listening on 127\.0\.0\.1:(\d+)").group(1))
    return p, port


# The drain source sets no case attributes: one create per event. casegate-sim finds a case by
# a linear scan, so with 100k cases every attributes request would measure the simulator.
DRAIN_SOURCE = SOURCE + "    attributes: {}\n"


def casegate(tmp, state, dd_url, extra="", source=SOURCE):
    cfg = os.path.join(tmp, "casegate.yaml")
    with open(cfg, "w") as f:
        # info, not warn: the port comes from the "listening" line; per-event lines are info too,
        # so stderr goes to a file (as under systemd) and costs little.
        f.write("listen: 127.0.0.1:0\nstate_dir: %s\nlog_level: info\n%sdatadog:\n  api_key: k\n  app_key: k\n%s"
                % (state, extra, source))
    os.chmod(cfg, 0o600)
    p = Proc("casegate", [os.path.join(BUILD, "casegate"), "run", "-c", cfg, "--datadog-url", dd_url], tmp)
    port = int(p.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 600).group(1))
    p.startup_s = time.time() - p.t0
    return p, port


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name_labels, _, val = line.rpartition(" ")
        name = name_labels.split("{")[0]
        out.setdefault(name, []).append((name_labels, float(val)))
    return out


def msum(m, name, sub=None):
    return sum(v for k, v in m.get(name, []) if sub is None or sub in k)


def cpu_s(pid):
    """User + system CPU seconds a process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds per thread role: the loop (the main thread), the named store, journal and
    checkpoint threads, and libuv's workers (mapping and drafting; unnamed, so still "casegate")."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
        except OSError:
            continue
        role = "loop" if int(tid) == pid else ("workers" if comm == "casegate" else comm)
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def journal_ceiling(tmp, record_bytes, batch):
    """Records/s one thread appends to a file on this disk, batch records per write and one
    fdatasync per batch: what the intake journal could reach with no HTTP, parsing or mapping."""
    path = os.path.join(tmp, "ceiling.jnl")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    buf = os.urandom(record_bytes) * batch
    try:
        secs = 0.5 if SMOKE else 3.0
        n, t0 = 0, time.time()
        while time.time() - t0 < secs:
            os.write(fd, buf)
            os.fdatasync(fd)
            n += batch
        return n / (time.time() - t0)
    finally:
        os.close(fd)
        os.unlink(path)


def wrk(url):
    env = dict(os.environ, CG_BENCH_TOKEN=TOKEN)
    c0 = os.times()
    r = subprocess.run(["wrk", "-t2", "-c%d" % CONC, "-d%ds" % DUR, "--latency", "-s",
                        os.path.join(HERE, "alertmanager.lua"), url], capture_output=True, text=True, env=env,
                       timeout=DUR + 60)
    out = r.stdout

    def lat(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    c1 = os.times()
    wrk_cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errs.group(1) if errs else "", "raw": out, "wrk_cpu": wrk_cpu}


def nginx_202(tmp):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("%sdaemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/nginx.err;\n"
                "events { worker_connections 1024; }\nhttp {\n access_log off;\n client_body_temp_path %s;\n"
                " server { listen 127.0.0.1:%d; client_max_body_size 1m; location / { return 202; } }\n}\n"
                % ("user root;\n" if os.geteuid() == 0 else "", tmp, tmp, tmp, port))
    p = Proc("nginx", [nginx, "-c", conf], tmp)
    end = time.time() + 10
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return p, port


# ---------------------------------------------------------------- runs

def bench_intake(results):
    with tempfile.TemporaryDirectory() as tmp:
        ng, nport = nginx_202(tmp)
        try:
            log("intake: nginx return 202, %d s" % DUR)
            results["nginx"] = wrk("http://127.0.0.1:%d/hooks/am" % nport)
        finally:
            ng.stop()
    for mode, extra in (("journal", ""), ("group", "queue:\n  journal: false\n"),
                        ("fsync", "queue:\n  journal: false\n  group_commit: false\n")):
        with tempfile.TemporaryDirectory() as tmp:
            # A slow Case API keeps delivery (16 requests in flight) from competing for the CPU.
            s, sport = sim(tmp, "--latency-ms", "5000")
            gw, gport = casegate(tmp, tmp + "/state", "http://127.0.0.1:%d" % sport, extra)
            try:
                log("intake: casegate (%s), %d s" % (mode, DUR))
                c0 = cpu_s(gw.p.pid)
                t0 = thread_cpu(gw.p.pid)
                r = wrk("http://127.0.0.1:%d/hooks/am" % gport)
                r["cpu"] = cpu_s(gw.p.pid) - c0
                t1 = thread_cpu(gw.p.pid)
                r["threads"] = {k: v - t0.get(k, 0.0) for k, v in t1.items()}
                m = metrics(gport)
                r["jsyncs"] = msum(m, "casegate_journal_syncs_total")
                r["jrecords"] = msum(m, "casegate_journal_records_total")
                r["jbytes"] = msum(m, "casegate_journal_appended_bytes_total")
                r["accepted"] = msum(m, "casegate_events_accepted_total")
                r["rss"] = gw.rss_mb()
                r["commits"] = msum(m, "casegate_store_commits_total")
                r["batch"] = msum(m, "casegate_store_committed_jobs_total") / max(r["commits"], 1)
                r["store_busy"] = msum(m, "casegate_store_busy_seconds_total") / DUR
                results["casegate_" + mode] = r
            finally:
                gw.stop()
                s.stop()
            if mode == "journal":
                # The journal alone on this disk, with casegate's own record size: at one record
                # per fdatasync (the disk's sync rate), at casegate's mean batch, and at 64.
                rec = int(r["jbytes"] / max(r["jrecords"], 1)) or 2300
                jb = max(1, int(round(r["jrecords"] / max(r["jsyncs"], 1))))
                results["journal_record_bytes"] = rec
                results["journal_ceiling"] = [(b, journal_ceiling(tmp, rec, b)) for b in sorted({1, jb, 22, CONC})]
                results["journal_batch"] = jb
            if mode == "group":
                # What SQLite alone commits on this disk with the same rows, without HTTP or mapping.
                db = os.path.join(tmp, "state", "casegate.db")
                con = sqlite3.connect(db)
                results["ceiling_payload"] = con.execute("SELECT length(payload) FROM events LIMIT 1").fetchone()[0]
                con.close()
                results["ceiling"] = [(b, store_ceiling(db, b)) for b in
                                      sorted({max(1, int(round(r["batch"]))), CONC})]


def store_ceiling(db, batch):
    """Events/s SQLite commits into casegate's own schema (WAL, synchronous=FULL), batch rows per
    transaction, copying one real queued event: the most any intake path could reach here."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
        src, status, prio, sev, payload = con.execute(
            "SELECT source, status, priority, severity, payload FROM events LIMIT 1").fetchone()
        secs = 0.5 if SMOKE else 3.0
        n, t0 = 0, time.time()
        while time.time() - t0 < secs:
            con.execute("BEGIN IMMEDIATE")
            for _ in range(batch):
                now = int(time.time() * 1000)
                con.execute("INSERT INTO events (source, dedup_key, status, priority, severity, payload, received_ms,"
                            " attempts, next_ms, step, last_error, inflight, is_head)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?7, 0, NULL, 0,"
                            " NOT EXISTS (SELECT 1 FROM events WHERE dedup_key = ?2))",
                            (src, "ceiling:%d" % n, status, prio, sev, payload, now))
                n += 1
            con.execute("COMMIT")
        return n / (time.time() - t0)
    finally:
        con.close()


def make_backlog(tmp, state, n, source=SOURCE):
    """A store holding n queued events (copies of one real Alertmanager event)."""
    gw, gport = casegate(tmp, state, "http://127.0.0.1:1", source=source)
    try:
        body = open(os.path.join(SRC, "tests", "fixtures", "alertmanager", "firing_single.json"), "rb").read()
        req = urllib.request.Request("http://127.0.0.1:%d/hooks/am" % gport, data=body, method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202, r.status
    finally:
        gw.stop()
    r = subprocess.run([sys.executable, os.path.join(HERE, "fill_queue.py"), state, str(n)], capture_output=True,
                       text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError("fill_queue: " + r.stderr)
    log(r.stdout.strip())


def drain(tmp, n, sim_args, deadline_s):
    state = tmp + "/state"
    make_backlog(tmp, state, n, DRAIN_SOURCE)
    s, sport = sim(tmp, *sim_args)
    gw, gport = casegate(tmp, state, "http://127.0.0.1:%d" % sport, source=DRAIN_SOURCE)
    t0 = time.time()
    try:
        done = 0
        while time.time() - t0 < deadline_s:
            m = metrics(gport)
            done = msum(m, "casegate_events_total")
            if done >= n:
                break
            time.sleep(0.1)
        elapsed = time.time() - t0
        m = metrics(gport)
        reqs = msum(m, "casegate_delivery_http_total")
        r429 = msum(m, "casegate_delivery_http_total", 'code="429"')
        return {"n": n, "done": done, "elapsed": elapsed, "eps": done / elapsed, "requests": reqs, "429": r429,
                "rps": (reqs - r429) / elapsed, "startup": gw.startup_s, "rss": gw.rss_mb(),
                "dead": msum(m, "casegate_dead_letters_total")}
    finally:
        gw.stop()
        s.stop()


def bench_drain(results):
    with tempfile.TemporaryDirectory() as tmp:
        log("drain: %d events, no faults" % DRAIN_N)
        results["drain"] = d = drain(tmp, DRAIN_N, [], 600)
    # Rate limit: about 60% of what casegate reached unlimited, so the limit binds; ~4 periods.
    period = 2 if SMOKE else 5
    per_event = d["requests"] / max(d["done"], 1)
    limit = max(20, int(d["rps"] * 0.6 * period / 10) * 10)
    n = max(50, int(limit / period * (3 if SMOKE else 20) / per_event))
    with tempfile.TemporaryDirectory() as tmp:
        log("drain: %d events, rate limit %d per %d s" % (n, limit, period))
        r = drain(tmp, n, ["--rate-limit", str(limit), "--rate-period", str(period)], 900)
        r["limit"], r["period"] = limit, period
        r["fraction"] = r["rps"] / (limit / period)
        r["periods"] = r["elapsed"] / period
        results["drain_rl"] = r


def bench_footprint(results):
    with tempfile.TemporaryDirectory() as tmp:
        s, sport = sim(tmp)
        gw, gport = casegate(tmp, tmp + "/state", "http://127.0.0.1:%d" % sport)
        try:
            time.sleep(2)
            results["idle"] = {"startup": gw.startup_s, "rss": gw.rss_mb()}
        finally:
            gw.stop()
            s.stop()
    with tempfile.TemporaryDirectory() as tmp:
        log("footprint: filling %d events" % FOOT_N)
        state = tmp + "/state"
        make_backlog(tmp, state, FOOT_N)
        size = os.path.getsize(state + "/casegate.db")
        # Datadog unreachable: the backlog stays while casegate runs (and retries) for 10 s.
        gw, gport = casegate(tmp, state, "http://127.0.0.1:1")
        try:
            peak = 0.0
            for _ in range(20 if not SMOKE else 4):
                time.sleep(0.5)
                peak = max(peak, gw.rss_mb())
            m = metrics(gport)
            results["full"] = {"n": FOOT_N, "startup": gw.startup_s, "rss": peak, "db": size,
                               "depth": msum(m, "casegate_queue_depth")}
        finally:
            gw.stop()


# ---------------------------------------------------------------- report

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def report(res):
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    ng, cj, cg, cf = res["nginx"], res["casegate_journal"], res["casegate_group"], res["casegate_fsync"]
    d, rl, idle, full = res["drain"], res["drain_rl"], res["idle"], res["full"]
    L = []
    L.append("# casegate benchmark results%s\n" % (" (SMOKE RUN: sizes tiny, numbers meaningless)" if SMOKE else ""))
    L.append("Produced by `bench/run.sh` on %s.\n" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"))
    L.append("Machine: %s, %s CPU(s), %s RAM, Linux %s, %s; %s; wrk %s; SQLite %s. "
             "The CPUs were shared with other work during the run: treat the numbers as a floor.\n"
             % (cpu or platform.processor(), os.cpu_count(), mem, platform.release(),
                sh(". /etc/os-release && echo $PRETTY_NAME"), sh("nginx -v 2>&1"), sh("wrk -v 2>&1 | head -1 | cut -d' ' -f2"),
                sh("python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'")))
    L.append("## Intake (wrk, %d connections, %d s, Alertmanager webhooks of %d bytes, one new alert each)\n"
             % (CONC, DUR, payload_size()))
    L.append("| target | requests/s | p50 | p99 | non-2xx | ratio to nginx |")
    L.append("|---|---:|---:|---:|---:|---:|")
    L.append("| nginx `return 202` (1 worker) | %.0f | %.2f ms | %.2f ms | %d | 1.00 |" % (ng["rps"], ng["p50"], ng["p99"], ng["non2xx"]))
    L.append("| casegate, durable: intake journal (the default) | %.0f | %.2f ms | %.2f ms | %d | **%.2f** (target >= 0.5) |"
             % (cj["rps"], cj["p50"], cj["p99"], cj["non2xx"], cj["rps"] / ng["rps"]))
    L.append("| casegate, durable: SQLite group commit (`queue.journal: false`) | %.0f | %.2f ms | %.2f ms | %d | %.2f |"
             % (cg["rps"], cg["p50"], cg["p99"], cg["non2xx"], cg["rps"] / ng["rps"]))
    L.append("| casegate, one fsync per request | %.0f | %.2f ms | %.2f ms | %d | %.2f |"
             % (cf["rps"], cf["p50"], cf["p99"], cf["non2xx"], cf["rps"] / ng["rps"]))
    L.append("")
    L.append("With the journal, every 202 means the webhook's record was appended to the intake journal and "
             "fdatasync'ed before the answer; the indexer applies it to SQLite right after. Journal appends: %d "
             "records in %d fdatasyncs, **%d records per sync** on average, %d bytes per record. "
             "Events accepted: %d. casegate RSS after the run: %.1f MiB.\n"
             % (cj["jrecords"], cj["jsyncs"], res["journal_batch"], res["journal_record_bytes"], cj["accepted"], cj["rss"]))
    L.append("### Journal ceiling: appends alone on this disk\n")
    L.append("One thread writing records of casegate's own size (%d bytes) to a file on the same disk, one "
             "`write` and one `fdatasync` per batch, in the same run (Python: no HTTP, parsing or mapping). "
             "Batch 1 is the disk's own fdatasync rate.\n" % res["journal_record_bytes"])
    L.append("| records per fdatasync | records/s | ratio to nginx | casegate (journal) / this |")
    L.append("|---:|---:|---:|---:|")
    for b, rps in res["journal_ceiling"]:
        L.append("| %d%s | %.0f | %.2f | %.2f |" % (b, " (casegate's mean batch above)" if b == res["journal_batch"] else "",
                                                  rps, rps / ng["rps"], cj["rps"] / max(rps, 1e-9)))
    L.append("")
    th = cj["threads"]
    n = max(cj["accepted"], 1)
    L.append("### CPU per webhook, by thread (intake journal run)\n")
    L.append("Method: user + system CPU time of each casegate thread from `/proc/<pid>/task/*/stat` before and "
             "after the wrk run, divided by the webhooks accepted in it. Threads are named (`top -H` shows them): "
             "the loop is the main thread (HTTP, auth, answers, hand-overs), workers are libuv's pool (JSON parse, "
             "mapping, drafting), `cg-journal` appends and syncs, `cg-store` indexes into SQLite, `cg-checkpoint` "
             "copies SQLite's WAL into the database.\n")
    L.append("| thread | us per webhook |")
    L.append("|---|---:|")
    for role in sorted(th, key=lambda k: -th[k]):
        L.append("| %s | %.1f |" % (role, th[role] / n * 1e6))
    L.append("| **total** | **%.1f** |" % (sum(th.values()) / n * 1e6))
    L.append("")
    L.append("wrk used %.1f CPU s in the same %d s (%.1f us per request): on %d CPUs, casegate and wrk together "
             "had at most %d CPU s.\n" % (cj["wrk_cpu"], DUR, cj["wrk_cpu"] / max(cj["rps"] * DUR, 1) * 1e6,
                                          os.cpu_count() or 1, DUR * (os.cpu_count() or 1)))
    L.append("Without the journal, every 202 means the event was committed to SQLite (WAL, synchronous=FULL) before the answer. "
             "Durability cost: group commit is **%.1fx** the throughput of one fsync per request "
             "(`queue.group_commit: false`). Events accepted: %d (group), %d (fsync). casegate RSS after the run: %.1f MiB.\n"
             % (cg["rps"] / max(cf["rps"], 1e-9), cg["accepted"], cf["accepted"], cg["rss"]))
    L.append("Group commit in the durable run: %.0f transactions, **%.1f events per commit** on average; the store "
             "thread was busy (running transactions, fsync included) %.0f%% of the time.\n"
             % (cg["commits"], cg["batch"], cg["store_busy"] * 100))
    L.append("### Store ceiling: SQLite alone on this disk\n")
    L.append("The same rows (a copy of a real queued event, %d bytes of payload) inserted straight into casegate's "
             "schema with the same settings (WAL, synchronous=FULL), by one Python process with no HTTP, "
             "parsing or mapping (so the rows still pay Python's per-statement cost): roughly the most an "
             "intake path that acknowledges after commit can reach here; with %d connections at most %d "
             "events wait for one commit.\n"
             % (res.get("ceiling_payload", 0), CONC, CONC))
    L.append("| events per commit | events/s | ratio to nginx |")
    L.append("|---:|---:|---:|")
    for b, eps in res["ceiling"]:
        L.append("| %d%s | %.0f | %.2f |" % (b, " (casegate's mean batch above)" if b != CONC else " (every connection in one commit)",
                                            eps, eps / ng["rps"]))
    L.append("")
    L.append("CPU during the durable run: casegate %.1f s, wrk %.1f s, of %d s x %d CPUs: **%.0f us of casegate CPU "
             "per webhook** (HTTP, auth, JSON parse, mapping, drafting the case, SQLite insert and commit, "
             "checkpoints, answer).\n"
             % (cg["cpu"], cg["wrk_cpu"], DUR, os.cpu_count() or 1, cg["cpu"] / max(cg["accepted"], 1) * 1e6))
    L.append("## Drain to casegate-sim\n")
    L.append("| run | events | time | events/s | Case API requests/s | 429s | dead letters |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    L.append("| no faults | %d | %.1f s | %.0f | %.0f | %d | %d |" % (d["done"], d["elapsed"], d["eps"], d["rps"], d["429"], d["dead"]))
    L.append("| rate limit %d per %d s (advertised in headers) | %d | %.1f s | %.0f | %.0f | %d | %d |"
             % (rl["limit"], rl["period"], rl["done"], rl["elapsed"], rl["eps"], rl["rps"], rl["429"], rl["dead"]))
    L.append("")
    L.append("Rate-limited run: **%.0f%%** of the advertised rate used (target >= 95%%), %d 429s over %.1f periods "
             "(target: at most one per period). Each event is %.1f request(s): the drain source sets no "
             "attributes, so an event is one create (the simulator looks cases up by a linear scan; with "
             "100k cases an attributes request per event would measure the simulator, not casegate). "
             "The first period starts before casegate has seen the headers, and the run ends inside a partial "
             "period, both of which count against the fraction.\n"
             % (rl["fraction"] * 100, rl["429"], rl["periods"], d["requests"] / max(d["done"], 1)))
    L.append("## Footprint\n")
    L.append("| state | startup (to listening) | RSS |")
    L.append("|---|---:|---:|")
    L.append("| idle, empty store | %.0f ms | %.1f MiB |" % (idle["startup"] * 1000, idle["rss"]))
    L.append("| %d events queued (store %.0f MiB), Case API unreachable | %.0f ms | %.1f MiB (target < 64 MiB) |"
             % (full["n"], full["db"] / 1048576.0, full["startup"] * 1000, full["rss"]))
    L.append("")
    L.append("The backlog is made by `bench/fill_queue.py` (copies of one real queued event with distinct dedup "
             "keys) because enqueuing %d events over HTTP would only measure intake again." % full["n"])
    L.append("")
    L.append("## Reading these numbers\n")
    best = max(eps for _, eps in res["ceiling"])
    jmean = [rps for b, rps in res["journal_ceiling"] if b == res["journal_batch"]][0]
    jr = cj["rps"] / ng["rps"]
    L.append("- Intake: with the journal casegate reached **%.2f** of nginx (target 0.5%s), %.1fx the SQLite "
             "group-commit path (%.2f of nginx) and %.2f of what the journal alone appends at casegate's own "
             "batch (%.0f records/s). SQLite alone (store ceiling) commits at most %.0f events/s here = %.2f of "
             "nginx: acknowledging from the journal takes SQLite off the answer's path. What bounds the rate is "
             "CPU: wrk and casegate share %d CPUs, and each webhook costs casegate the CPU time in the table "
             "(most of it in the kernel: socket reads and writes, thread hand-overs, the fdatasync)."
             % (jr, ": met" if jr >= 0.5 else ": not met here", cj["rps"] / max(cg["rps"], 1e-9), cg["rps"] / ng["rps"],
                cj["rps"] / max(jmean, 1e-9), jmean, best, best / ng["rps"], os.cpu_count() or 1))
    L.append("- Group commit vs one fsync per request: with one transaction per webhook every request "
             "waits for its own fsync; group commit shares one among %.0f on average." % cg["batch"])
    L.append("- The rate-limited drain can exceed 100%: the simulator's window starts at its first request "
             "while the elapsed time is counted from casegate's start.")
    L.append("- Startup with a large backlog is the store's open-time repair passes over the queue "
             "(requeue in-flight events, re-check the queue-head flags); idle startup is %.0f ms."
             % (idle["startup"] * 1000))
    text = "\n".join(L) + "\n"
    # Keep the PostgreSQL section (bench_pg.py writes it between its markers) across a full rerun.
    try:
        prev = open(OUT).read()
    except OSError:
        prev = ""
    # The same for the alert-storm section (bench_storm.py).
    for tag in ("pg", "storm"):
        b, e = "<!-- %s:begin -->" % tag, "<!-- %s:end -->" % tag
        if b in prev and e in prev:
            sec = prev[prev.index(b):prev.index(e) + len(e)] + "\n"
            i = text.find("\n## Footprint")
            text = text[:i + 1] + sec + "\n" + text[i + 1:] if i >= 0 else text + "\n" + sec
    with open(OUT, "w") as f:
        f.write(text)
    log("results written to " + OUT)
    print("\n".join(L))


def payload_size():
    # The Lua template with one instance name filled in (as wrk sends it).
    with open(os.path.join(HERE, "alertmanager.lua")) as f:
        t = re.search(r"local template = \[\[(.*)\]\]", f.read(), re.S).group(1)
    return len(t.replace("%%", "%").replace("%016x", "0" * 16).replace("%s", "pod-0-1:8080"))


def main():
    for tool in ("wrk",):
        if not shutil.which(tool):
            log("%s missing (Debian package wrk)" % tool)
            return 77
    for b in ("casegate", "casegate-sim"):
        if not os.path.exists(os.path.join(BUILD, b)):
            log("no %s in %s" % (b, BUILD))
            return 1
    res = {}
    bench_intake(res)
    bench_drain(res)
    bench_footprint(res)
    report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
