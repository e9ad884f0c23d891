#!/usr/bin/python3
"""bench_pg.py: the PostgreSQL-backend benchmarks (intake, drain, two replicas) -> section of bench/RESULTS.md.

Run through `bench/run.sh --pg` (or CG_BENCH_PG=1 bench/run.sh). Starts a private PostgreSQL
server (initdb + pg_ctl in a temp directory, free port, as user nobody when run as root: the same
way as tests/harness/pgserver.c, but with the durability defaults: fsync and synchronous_commit on).
Every PG figure sits next to a SQLite baseline measured in the same session with the same harness
(bench.py's functions): the CPUs are shared, so only same-session ratios mean something.
Only the "PostgreSQL backend" section of the results file is written (in place, between its
markers); the SQLite sections are left as they are.

Environment (besides bench.py's CG_BENCH_BUILD, CG_BENCH_DURATION, CG_BENCH_OUT):
  CG_BENCH_DRAIN     events per drain run (default here 20000)
  CG_BENCH_REPLICAS  0 skips the two-replica runs (default 1: run them)
  CG_PG_BINDIR       PostgreSQL bin directory (default: highest /usr/lib/postgresql/*/bin)
  --smoke            tiny sizes, 1 s runs, results to a temp file
"""
import datetime
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (shares the harness: sim, casegate, wrk, nginx, metrics)

DRAIN_N = 2000 if B.SMOKE else int(os.environ.get("CG_BENCH_DRAIN", "20000"))
REPLICAS = os.environ.get("CG_BENCH_REPLICAS", "1") != "0"
BEGIN, END = "<!-- pg:begin -->", "<!-- pg:end -->"
log = B.log


# ---------------------------------------------------------------- private PostgreSQL server

def pg_bindir():
    env = os.environ.get("CG_PG_BINDIR")
    if env:
        return env if os.access(os.path.join(env, "initdb"), os.X_OK) else None
    best, bestv = None, -1
    for p in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        v = int(re.search(r"/postgresql/(\d+)/", p).group(1))
        if v > bestv and os.access(p, os.X_OK):
            best, bestv = os.path.dirname(p), v
    return best


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PG:
    def __init__(self, bindir, extra_opts=""):
        self.bindir = bindir
        self.extra_opts = extra_opts  # more server options (bench/pg_profile.py: pg_stat_statements)
        self.dir = tempfile.mkdtemp(prefix="cg-bench-pg-")
        self.user = {}
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            pw = pwd.getpwnam("nobody")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
            self.user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self.running = False

    def run(self, argv, logname):
        with open(os.path.join(self.dir, logname), "a") as f:
            return subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=300, **self.user).returncode

    def start(self):
        data = os.path.join(self.dir, "data")
        if self.run([self.bindir + "/initdb", "-D", data, "-A", "trust", "-U", "casegate", "-E", "UTF8",
                     "--locale=C", "-N"], "initdb.log") != 0:
            raise RuntimeError("initdb failed: " + self.logs())
        # Durability as in production (fsync, synchronous_commit, full_page_writes on: the
        # defaults), unlike the tests' server: a 202 must mean committed, as with SQLite FULL.
        for _ in range(3):
            self.port = free_port()
            opts = ("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=100 -c shared_buffers=128MB %s"
                    % (self.port, self.dir, self.extra_opts))
            if self.run([self.bindir + "/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "server.log"), "-w",
                         "-t", "60", "-o", opts, "start"], "pg_ctl.log") == 0:
                self.running = True
                return
        raise RuntimeError("PostgreSQL did not start: " + self.logs())

    def logs(self):
        out = ""
        for n in ("initdb.log", "server.log", "pg_ctl.log"):
            p = os.path.join(self.dir, n)
            if os.path.exists(p):
                out += "---- %s ----\n%s\n" % (n, open(p).read()[-2000:])
        return out

    def dsn(self, db="postgres"):
        return "host=127.0.0.1 port=%d user=casegate dbname=%s" % (self.port, db)

    def psql(self, sql, db="postgres"):
        r = subprocess.run([self.bindir + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                            self.dsn(db), "-c", sql], capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError("psql %s: %s" % (sql[:80], r.stderr))
        return r.stdout.strip()

    def fresh_db(self, name):
        self.psql("DROP DATABASE IF EXISTS %s" % name)
        self.psql("CREATE DATABASE %s" % name)
        return name

    def cpu_s(self):
        """CPU seconds used so far by the postmaster and its live children (the backends)."""
        try:
            pm = int(open(os.path.join(self.dir, "data", "postmaster.pid")).readline())
        except (OSError, ValueError):
            return 0.0
        total = 0
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                f = open(stat).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(stat.split("/")[2])
            if pid == pm or int(f[1]) == pm:
                total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
        return total / os.sysconf("SC_CLK_TCK")

    def version(self):
        r = subprocess.run([self.bindir + "/postgres", "--version"], capture_output=True, text=True)
        return r.stdout.strip()

    def destroy(self):
        if self.running:
            self.run([self.bindir + "/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "-w", "-t",
                      "60", "stop"], "pg_ctl.log")
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)


def proc_cpu_s(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def pg_store(pg, db, replica):
    # lease: the default; replica names make a restarted backlog maker free its claims at once.
    return "store:\n  backend: postgres\n  dsn: \"%s\"\n  replica: %s\n" % (pg.dsn(db), replica)


def replica_dir(tmp, name):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    return d


# ---------------------------------------------------------------- runs

def nginx_proxy(tmp, ports):
    """nginx (1 worker) spreading requests over the replicas, keep-alive to the upstreams."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = os.path.join(tmp, "nginx-proxy.conf")
    ups = "".join(" server 127.0.0.1:%d;\n" % p for p in ports)
    with open(conf, "w") as f:
        f.write("%sdaemon off;\nworker_processes 1;\npid %s/nginx-proxy.pid;\nerror_log %s/nginx-proxy.err;\n"
                "events { worker_connections 1024; }\nhttp {\n access_log off;\n client_body_temp_path %s;\n"
                " upstream cg {\n%s keepalive 64;\n }\n"
                " server { listen 127.0.0.1:%d; client_max_body_size 1m;\n"
                "  location / { proxy_pass http://cg; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }\n}\n"
                % ("user root;\n" if os.geteuid() == 0 else "", tmp, tmp, tmp, ups, port))
    p = B.Proc("nginx-proxy", [nginx, "-c", conf], tmp)
    end = time.time() + 10
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return p, port


def intake_pg(pg, res):
    for mode, extra in (("group", ""), ("fsync", "queue:\n  group_commit: false\n")):
        db = pg.fresh_db("intake_" + mode)
        with tempfile.TemporaryDirectory() as tmp:
            s, sport = B.sim(tmp, "--latency-ms", "5000")
            gw, gport = B.casegate(tmp, tmp + "/state", "http://127.0.0.1:%d" % sport, extra + pg_store(pg, db, "r1"))
            try:
                log("intake: casegate on PostgreSQL (%s), %d s" % (mode, B.DUR))
                c0, p0 = proc_cpu_s(gw.p.pid), pg.cpu_s()
                r = B.wrk("http://127.0.0.1:%d/hooks/am" % gport)
                r["cpu_cg"], r["cpu_pg"] = proc_cpu_s(gw.p.pid) - c0, pg.cpu_s() - p0
                r["accepted"] = B.msum(B.metrics(gport), "casegate_events_accepted_total")
                r["rss"] = gw.rss_mb()
                r["rows"] = int(pg.psql("SELECT count(*) FROM events", db))
                res["pg_" + mode] = r
            finally:
                gw.stop()
                s.stop()
    if not REPLICAS:
        return
    db = pg.fresh_db("intake_ha")
    with tempfile.TemporaryDirectory() as tmp:
        s, sport = B.sim(tmp, "--latency-ms", "5000")
        gws = []
        try:
            for name in ("r1", "r2"):
                d = replica_dir(tmp, name)
                gws.append(B.casegate(d, d + "/state", "http://127.0.0.1:%d" % sport, pg_store(pg, db, name)))
            ng, nport = nginx_proxy(tmp, [p for _, p in gws])
            try:
                log("intake: two casegate replicas on PostgreSQL behind nginx, %d s" % B.DUR)
                p0 = pg.cpu_s()
                r = B.wrk("http://127.0.0.1:%d/hooks/am" % nport)
                r["cpu_pg"] = pg.cpu_s() - p0
                r["per_replica"] = [B.msum(B.metrics(p), "casegate_events_accepted_total") for _, p in gws]
                r["accepted"] = sum(r["per_replica"])
                r["rows"] = int(pg.psql("SELECT count(*) FROM events", db))
                res["pg_ha"] = r
            finally:
                ng.stop()
        finally:
            for gw, _ in gws:
                gw.stop()
            s.stop()


def make_backlog_pg(pg, db, tmp, n):
    """db holding n queued events: one real event posted over HTTP, then n-1 copies in SQL."""
    d = replica_dir(tmp, "r1")
    gw, gport = B.casegate(d, d + "/state", "http://127.0.0.1:1", pg_store(pg, db, "r1"), source=B.DRAIN_SOURCE)
    try:
        body = open(os.path.join(B.SRC, "tests", "fixtures", "alertmanager", "firing_single.json"), "rb").read()
        req = urllib.request.Request("http://127.0.0.1:%d/hooks/am" % gport, data=body, method="POST",
                                     headers={"Authorization": "Bearer " + B.TOKEN, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202, r.status
    finally:
        gw.stop()
    t0 = time.time()
    now = int(time.time() * 1000)
    if int(pg.psql("SELECT count(*) FROM events", db)) != 1:
        raise RuntimeError("backlog: want exactly 1 template event")
    # Same shape as fill_queue.py: distinct dedup keys, every copy the head of its key, due now.
    pg.psql("BEGIN;"
            "UPDATE events SET received_ms = %d, next_ms = %d, attempts = 0, step = 0, last_error = NULL,"
            " is_head = true, claimed_by = NULL, lease_until = 0;"
            "INSERT INTO events (source, dedup_key, status, priority, severity, payload, received_ms, attempts,"
            " next_ms, step, last_error, is_head)"
            " SELECT e.source, e.dedup_key || '#' || i, e.status, e.priority, e.severity, e.payload, %d, 0, %d, 0,"
            " NULL, true FROM generate_series(1, %d) i, (SELECT * FROM events LIMIT 1) e;"
            "COMMIT" % (now, now, now, now, n - 1), db)
    pg.psql("VACUUM ANALYZE events", db)  # not in a transaction: a separate -c
    log("backlog: %d events in %.1f s" % (n, time.time() - t0))


def drain_pg(pg, n, replicas):
    db = pg.fresh_db("drain_%d" % replicas)
    with tempfile.TemporaryDirectory() as tmp:
        make_backlog_pg(pg, db, tmp, n)
        s, sport = B.sim(tmp)
        gws = []
        try:
            for i in range(replicas):
                d = replica_dir(tmp, "r%d" % (i + 1))
                gws.append(B.casegate(d, d + "/state", "http://127.0.0.1:%d" % sport, pg_store(pg, db, "r%d" % (i + 1)),
                                      source=B.DRAIN_SOURCE))
            t0 = time.time()
            p0 = pg.cpu_s()
            done = 0
            while time.time() - t0 < 600:
                done = sum(B.msum(B.metrics(p), "casegate_events_total") for _, p in gws)
                if done >= n:
                    break
                time.sleep(0.1)
            elapsed = time.time() - t0
            ms = [B.metrics(p) for _, p in gws]
            reqs = sum(B.msum(m, "casegate_delivery_http_total") for m in ms)
            r429 = sum(B.msum(m, "casegate_delivery_http_total", 'code="429"') for m in ms)
            cases = json_count(sport)
            return {"n": n, "done": done, "elapsed": elapsed, "eps": done / elapsed, "requests": reqs, "429": r429,
                    "rps": (reqs - r429) / elapsed, "dead": sum(B.msum(m, "casegate_dead_letters_total") for m in ms),
                    "cpu_pg": pg.cpu_s() - p0, "cases": cases,
                    "per_replica": [B.msum(m, "casegate_events_total") for m in ms]}
        finally:
            for gw, _ in gws:
                gw.stop()
            s.stop()


def json_count(sport):
    """Cases the simulator holds (a duplicate create would show as more cases than events)."""
    import json
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/_sim/cases" % sport, timeout=60) as r:
            data = json.loads(r.read())
    except Exception as e:  # the count is a cross-check, not the measurement
        log("sim cases: %s" % e)
        return -1
    if isinstance(data, dict):
        data = data.get("data", data.get("cases", []))
    return len(data)


def drain_sqlite(n):
    with tempfile.TemporaryDirectory() as tmp:
        return B.drain(tmp, n, [], 600)


# ---------------------------------------------------------------- report

def section(res, pgver):
    sq, sf, ng = res["casegate_group"], res["casegate_fsync"], res["nginx"]
    pg, pf = res["pg_group"], res["pg_fsync"]
    L = [BEGIN, "## PostgreSQL backend%s\n" % (" (SMOKE RUN: numbers meaningless)" if B.SMOKE else "")]
    L.append("Produced by `bench/run.sh --pg` on %s: %s on the same machine and disk, a private server "
             "started by the bench (initdb in a temp directory, loopback TCP, durability defaults: `fsync`, "
             "`synchronous_commit` and `full_page_writes` on; `shared_buffers=128MB`). The 2 CPUs were shared "
             "with other work during the run, and here PostgreSQL, casegate, wrk (and nginx) share them too. "
             "Because load varies between sessions, the SQLite rows below are **re-measured in the same "
             "session** with the same harness and are the base of the PG/SQLite ratio; the sections above "
             "are a separate, full run and were not changed.\n" % (datetime.datetime.utcnow().strftime(
                 "%Y-%m-%d %H:%M UTC"), pgver))
    L.append("### Intake (wrk, %d connections, %d s, Alertmanager webhooks of %d bytes, one new alert each)\n"
             % (B.CONC, B.DUR, B.payload_size()))
    L.append("| target | requests/s | p50 | p99 | non-2xx | ratio to nginx | PG / SQLite |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")

    def row(name, r, base):
        return "| %s | %.0f | %.2f ms | %.2f ms | %d | %.2f | %s |" % (
            name, r["rps"], r["p50"], r["p99"], r["non2xx"], r["rps"] / ng["rps"],
            "**%.2f**" % (r["rps"] / base["rps"]) if base else "-")
    L.append("| nginx `return 202` (1 worker), this session | %.0f | %.2f ms | %.2f ms | %d | 1.00 | - |"
             % (ng["rps"], ng["p50"], ng["p99"], ng["non2xx"]))
    L.append(row("casegate, SQLite, group commit, this session", sq, None))
    L.append(row("casegate, PostgreSQL, group commit", pg, sq))
    L.append(row("casegate, SQLite, one fsync per request, this session", sf, None))
    L.append(row("casegate, PostgreSQL, one commit per request", pf, sf))
    if "pg_ha" in res:
        L.append(row("2 casegate replicas, PostgreSQL, behind nginx (1 worker)", res["pg_ha"], sq))
    L.append("")
    L.append("Every 202 means the event was committed in PostgreSQL before the answer (group commit: one "
             "transaction per batch, as with SQLite). Events accepted: %d (group), %d (one per request); rows in "
             "`events` afterwards (they include requests still in flight when wrk stopped): %d and %d. CPU during the group-commit run: casegate %.1f s, PostgreSQL %.1f s "
             "(of %d s x 2 CPUs). casegate RSS after the run: %.1f MiB."
             % (pg["accepted"], pf["accepted"], pg["rows"], pf["rows"], pg["cpu_cg"], pg["cpu_pg"], B.DUR, pg["rss"]))
    if "pg_ha" in res:
        h = res["pg_ha"]
        if h["rps"] > pg["rps"]:
            why = ("**%.1fx** one replica's rate, although wrk, nginx, two casegates and PostgreSQL share the same "
                   "2 CPUs and every request crosses one more proxy hop: each replica commits its own batches on "
                   "its own connection, so two commit pipelines overlap (one replica is bound by its commit round "
                   "trips, not by CPU: PostgreSQL used %.1f CPU s of %d in the single-replica run)"
                   % (h["rps"] / pg["rps"], pg["cpu_pg"], 2 * B.DUR))
        else:
            why = ("%.2fx one replica's rate: on this machine the replicas add availability, not throughput (wrk, "
                   "nginx, two casegates and PostgreSQL share the same 2 CPUs, and every request crosses one more "
                   "proxy hop)" % (h["rps"] / pg["rps"]))
        L.append("Two replicas: %d events accepted (%s per replica), %d rows; PostgreSQL used %.1f CPU s; %s."
                 % (h["accepted"], " / ".join("%d" % x for x in h["per_replica"]), h["rows"], h["cpu_pg"], why))
    L.append("")
    L.append("### Drain to casegate-sim (%d events, no faults)\n" % DRAIN_N)
    L.append("| run | events | time | events/s | Case API requests/s | 429s | dead letters | PG / SQLite |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    ds = res["drain_sqlite"]

    def drow(name, d, base):
        return "| %s | %d | %.1f s | %.0f | %.0f | %d | %d | %s |" % (
            name, d["done"], d["elapsed"], d["eps"], d["rps"], d["429"], d["dead"],
            "**%.2f**" % (d["eps"] / base["eps"]) if base else "-")
    L.append(drow("SQLite, this session", ds, None))
    L.append(drow("PostgreSQL, 1 replica", res["drain_pg"], ds))
    if "drain_pg2" in res:
        L.append(drow("PostgreSQL, 2 replicas", res["drain_pg2"], ds))
    L.append("")
    d1 = res["drain_pg"]
    txt = ("%d events per run (`CG_BENCH_DRAIN`; the SQLite section above drains 100000): bounded so that the "
           "whole PG run stays under ~10 minutes. The backlog is made as for SQLite: one real event posted over "
           "HTTP, then copies with distinct dedup keys inserted in SQL, so each event is one create. "
           "Cases in the simulator afterwards: %d (1 replica)" % (DRAIN_N, d1["cases"]))
    if "drain_pg2" in res:
        d2 = res["drain_pg2"]
        txt += ", %d (2 replicas, events delivered per replica: %s)" % (
            d2["cases"], " / ".join("%d" % x for x in d2["per_replica"]))
    txt += (". PostgreSQL CPU during the 1-replica drain: %.1f s (%.1f ms per event): each delivered event "
            "costs a claim, a lease and a completion transaction over loopback TCP, where SQLite does the same "
            "in-process, so on 2 shared CPUs the database itself is a large part of the drain's cost."
            % (d1["cpu_pg"], 1000.0 * d1["cpu_pg"] / max(d1["done"], 1)))
    L.append(txt)
    L.append(END)
    return "\n".join(L) + "\n"


def splice(text, sec):
    """text with the PG section replaced in place, or inserted before the footprint section."""
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        if b < len(text) and text[b] == "\n":
            b += 1
        return text[:a] + sec + text[b:]
    for anchor in ("## Footprint", "## Reading these numbers"):
        i = text.find("\n" + anchor)
        if i >= 0:
            return text[:i + 1] + sec + "\n" + text[i + 1:]
    return text.rstrip("\n") + "\n\n" + sec


def main():
    if not shutil.which("wrk"):
        log("wrk missing (Debian package wrk)")
        return 77
    bindir = pg_bindir()
    if not bindir:
        log("no PostgreSQL server binaries (Debian package postgresql; or set CG_PG_BINDIR)")
        return 77
    for b in ("casegate", "casegate-sim"):
        if not os.path.exists(os.path.join(B.BUILD, b)):
            log("no %s in %s" % (b, B.BUILD))
            return 1
    t0 = time.time()
    res = {}
    log("SQLite baseline (this session): nginx, group commit, fsync per request")
    B.bench_intake(res)
    pg = PG(bindir)
    try:
        pg.start()
        log("PostgreSQL on port %d (%s)" % (pg.port, pg.dir))
        intake_pg(pg, res)
        log("drain: %d events, SQLite" % DRAIN_N)
        res["drain_sqlite"] = drain_sqlite(DRAIN_N)
        log("drain: %d events, PostgreSQL, 1 replica" % DRAIN_N)
        res["drain_pg"] = drain_pg(pg, DRAIN_N, 1)
        if REPLICAS:
            log("drain: %d events, PostgreSQL, 2 replicas" % DRAIN_N)
            res["drain_pg2"] = drain_pg(pg, DRAIN_N, 2)
        ver = pg.version()
    except Exception:
        sys.stderr.write(pg.logs()[-4000:])
        raise
    finally:
        pg.destroy()
    sec = section(res, ver)
    old = open(B.OUT).read() if os.path.exists(B.OUT) else ""
    if B.SMOKE and not os.environ.get("CG_BENCH_OUT"):
        old = open(os.path.join(HERE, "RESULTS.md")).read()  # smoke: splice into a copy, never the real file
    with open(B.OUT, "w") as f:
        f.write(splice(old, sec))
    log("PostgreSQL section written to %s (%.0f s)" % (B.OUT, time.time() - t0))
    print(sec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
