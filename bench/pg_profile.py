#!/usr/bin/python3
"""pg_profile.py: where PostgreSQL's time goes on casegate's intake (a profile, not a benchmark).

Starts a private PostgreSQL as bench_pg.py does (same durability defaults) with pg_stat_statements,
runs one casegate on it under wrk (bench.py's load: 64 connections, Alertmanager webhooks, one new
alert each) and prints: requests/s, CPU of casegate and of PostgreSQL per accepted event, commits
and jobs per commit, and the statements by total execution time with their calls (statements per
event ~ round trips per webhook). Writes no results file.

  CG_BENCH_BUILD=build CG_BENCH_DURATION=10 python3 bench/pg_profile.py [--per-request]

--per-request: queue.group_commit false (a transaction per webhook).
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402
import bench_pg as P  # noqa: E402


def main():
    bindir = P.pg_bindir()
    if not bindir:
        B.log("no PostgreSQL server binaries (Debian package postgresql; or set CG_PG_BINDIR)")
        return 77
    extra = "queue:\n  group_commit: false\n" if "--per-request" in sys.argv else ""
    pg = P.PG(bindir, "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all")
    try:
        pg.start()
        db = pg.fresh_db("profile")
        pg.psql("CREATE EXTENSION pg_stat_statements", db)
        this_db = "dbid = (SELECT oid FROM pg_database WHERE datname = 'profile')"
        with tempfile.TemporaryDirectory() as tmp:
            s, sport = B.sim(tmp, "--latency-ms", "5000")
            gw, gport = B.casegate(tmp, tmp + "/state", "http://127.0.0.1:%d" % sport, extra + P.pg_store(pg, db, "r1"))
            try:
                pg.psql("SELECT pg_stat_statements_reset()", db)
                c0, p0 = P.proc_cpu_s(gw.p.pid), pg.cpu_s()
                r = B.wrk("http://127.0.0.1:%d/hooks/am" % gport)
                cg, pc = P.proc_cpu_s(gw.p.pid) - c0, pg.cpu_s() - p0
                m = B.metrics(gport)
            finally:
                gw.stop()
                s.stop()
        acc = max(B.msum(m, "casegate_events_accepted_total"), 1)
        commits = B.msum(m, "casegate_store_commits_total")
        jobs = B.msum(m, "casegate_store_committed_jobs_total")
        print("%.0f requests/s (p50 %.2f ms, p99 %.2f ms, non-2xx %d), %d events accepted"
              % (r["rps"], r["p50"], r["p99"], r["non2xx"], acc))
        print("CPU per event: PostgreSQL %.0f us, casegate %.0f us" % (pc / acc * 1e6, cg / acc * 1e6))
        print("%d commits, %.1f jobs per commit" % (commits, jobs / max(commits, 1)))
        print("stored payload: " + pg.psql("SELECT avg(length(payload))::int || ' characters in '"
                                           " || avg(pg_column_size(payload))::int || ' bytes' FROM events", db))
        print("calls | total ms | us per call | rows | WAL bytes | statement")
        print(pg.psql("SELECT calls, round(total_exec_time::numeric), round((total_exec_time / calls * 1000)::numeric),"
                      " rows, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) FROM pg_stat_statements"
                      " WHERE " + this_db + " ORDER BY total_exec_time DESC LIMIT 15", db))
        calls = int(pg.psql("SELECT sum(calls) FROM pg_stat_statements WHERE " + this_db
                            + " AND toplevel AND query NOT LIKE '%pg_stat_statements%'", db) or 0)
        print("top-level statements per event (round trips per webhook, the listener's included): %.2f"
              % (calls / acc))
    finally:
        pg.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
