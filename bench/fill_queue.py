#!/usr/bin/python3
"""fill_queue.py: fills a stopped casegate's store with N queued events, copies of one real event.

Usage: fill_queue.py STATE_DIR N
The store must hold exactly one queued event (post one webhook to a casegate whose Datadog URL
is unreachable, then stop it): its row is the template. The copies get distinct dedup keys
("<key>#<i>") so each one is a separate case, as in a real backlog. casegate must be stopped;
it rebuilds the queue-head flags at start. Enqueuing a million events over HTTP would take
minutes and measure intake again; this takes seconds.
"""
import sqlite3
import sys
import time


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    state_dir, n = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(state_dir + "/casegate.db")
    rows = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    if rows != 1:
        print("fill_queue: want exactly 1 template event, found %d" % rows, file=sys.stderr)
        return 1
    t0 = time.time()
    now = int(time.time() * 1000)
    with db:
        db.execute(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
            "INSERT INTO events (source, dedup_key, status, priority, severity, payload, received_ms, attempts,"
            " next_ms, step, last_error, inflight, is_head) "
            "SELECT e.source, e.dedup_key || '#' || seq.i, e.status, e.priority, e.severity, e.payload, ?, 0, ?, 0,"
            " NULL, 0, 1 FROM seq, (SELECT * FROM events LIMIT 1) e",
            (n - 1, now, now))
        db.execute("UPDATE events SET received_ms = ?, next_ms = ?", (now, now))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print("fill_queue: %d events in %.1f s" % (n, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
