#!/usr/bin/python3
"""bench_storm.py: an alert storm against casegate-sim with a rate limit -> the "Alert storm" section of bench/RESULTS.md.

Run through `bench/run.sh --storm`. One source receives CG_BENCH_STORM (default 10000) new
Alertmanager alerts at P5 (severity info) as fast as it takes them, then 10 new P1 alerts
(severity critical); casegate-sim advertises a rate limit of CG_BENCH_STORM_RATE (default 100)
requests per second. Measured twice, side by side in one run: without `storm:` (every alert
opens a case) and with `storm: {max_new_cases: 20, per: 5m, digest_interval: 30s}`:
  - time from accepting the P1 alerts until the first P1 case exists in the simulator;
  - Case API requests used (casegate's casegate_delivery_http_total) per alert, and 429s;
  - cases made, and the time until the queue is empty.
Only the "Alert storm" section of the results file is written (between its markers).
  --smoke  1000 alerts, results to a temp file: checks the harness, not numbers
"""
import datetime
import json
import os
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (shares the process helpers)

N = 1000 if B.SMOKE else int(os.environ.get("CG_BENCH_STORM", "10000"))
RATE = int(os.environ.get("CG_BENCH_STORM_RATE", "100"))
PER_POST = 100
P1S = 10
STORM = "    storm: { max_new_cases: 20, per: 5m, digest_interval: 30s }\n"


def notification(first, n, severity):
    alerts = [{"status": "firing",
               "labels": {"alertname": "StormAlert", "instance": "host-%05d" % i, "severity": severity},
               "annotations": {"summary": "host-%05d is down" % i},
               "startsAt": "2026-12-06T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
               "fingerprint": "%016x" % i} for i in range(first, first + n)]
    return json.dumps({"version": "4", "status": "firing", "receiver": "casegate", "groupKey": "{}:{}",
                       "alerts": alerts}).encode()


def post(port, body):
    req = urllib.request.Request("http://127.0.0.1:%d/hooks/am" % port, data=body, method="POST",
                                 headers={"Authorization": "Bearer " + B.TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 202, r.status


def sim_cases(sport):
    with urllib.request.urlopen("http://127.0.0.1:%d/_sim/cases" % sport, timeout=60) as r:
        return json.loads(r.read().decode()).get("cases", [])


def prio(c):
    a = c.get("attributes", c)
    return a.get("priority")


def run(tmp, folding):
    state = os.path.join(tmp, "state")
    s, sport = B.sim(tmp, "--rate-limit", str(RATE), "--rate-period", "1")
    source = B.DRAIN_SOURCE + (STORM if folding else "")
    gw, gport = B.casegate(tmp, state, "http://127.0.0.1:%d" % sport, source=source)
    try:
        t0 = time.time()
        for first in range(0, N, PER_POST):
            post(gport, notification(first, min(PER_POST, N - first), "info"))
        t_storm = time.time() - t0
        post(gport, notification(N, P1S, "critical"))
        t_p1 = time.time()
        first_p1 = None
        deadline = t_p1 + (120 if B.SMOKE else 900)
        drained = None
        while time.time() < deadline:
            if first_p1 is None and any(prio(c) == "P1" for c in sim_cases(sport)):
                first_p1 = time.time() - t_p1
            m = B.metrics(gport)
            if B.msum(m, "casegate_queue_depth") == 0 and first_p1 is not None:
                drained = time.time() - t0
                break
            time.sleep(0.2)
        m = B.metrics(gport)
        reqs = B.msum(m, "casegate_delivery_http_total")
        r429 = B.msum(m, "casegate_delivery_http_total", 'code="429"')
        cases = sim_cases(sport)
        return {"folding": folding, "alerts": N + P1S, "post_s": t_storm, "first_p1": first_p1, "drained": drained,
                "requests": reqs, "429": r429, "cases": len(cases),
                "p1_cases": sum(1 for c in cases if prio(c) == "P1"),
                "folded": B.msum(m, "casegate_storm_alerts_folded_total"), "rss": gw.rss_mb()}
    finally:
        gw.stop()
        s.stop()


def fmt_s(v):
    return "%.1f s" % v if v is not None else "not within the deadline"


def report(res):
    L = ["<!-- storm:begin -->", "## Alert storm (one source, rate-limited Case API)", ""]
    L.append("Produced by `bench/run.sh --storm` on %s: %d new P5 alerts (Alertmanager notifications of %d), "
             "then %d new P1 alerts, into one source; casegate-sim advertises %d requests/s. "
             "Same machine, same run, one after the other.\n"
             % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), N, PER_POST, P1S, RATE))
    L.append("| run | cases made | Case API requests | requests per alert | 429s | first P1 case after | queue empty after |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in res:
        name = "`storm: {max_new_cases: 20, per: 5m}`" if r["folding"] else "no `storm:` (a case per alert)"
        L.append("| %s | %d | %d | %.3f | %d | %s | %s |"
                 % (name, r["cases"], r["requests"], r["requests"] / r["alerts"], r["429"], fmt_s(r["first_p1"]),
                    fmt_s(r["drained"])))
    a, b = res[0], res[1]
    L.append("")
    L.append("- The P1 alerts arrive behind %d queued P5 creates. The queue claims by priority (with aging, "
             "`priority_aging`), so their cases go out next in both runs; first come, first served would have "
             "made them wait for the whole backlog, about %d s at %d requests/s (the time the first run took "
             "to empty its queue)." % (N, round(N / RATE), RATE))
    L.append("- Folding made %d cases instead of %d (%.0fx fewer) and used %.3f requests per alert instead of "
             "%.3f; %d alerts were folded. With folding the P1 alerts are folded too (the storm is on): the "
             "storm case is raised to P1, so the first P1 case is the storm case." %
             (b["cases"], a["cases"], a["cases"] / max(b["cases"], 1), b["requests"] / b["alerts"],
              a["requests"] / a["alerts"], b["folded"]))
    L.append("- Accepting the %d alerts took %.1f s without folding and %.1f s with it (folding is decided in "
             "the intake's store transaction; without it, delivery shares the CPU with intake meanwhile). "
             "casegate RSS at the end: %.1f / %.1f MiB." % (N, a["post_s"], b["post_s"], a["rss"], b["rss"]))
    L.append("<!-- storm:end -->")
    return "\n".join(L) + "\n"


def main():
    for b in ("casegate", "casegate-sim"):
        if not os.path.exists(os.path.join(B.BUILD, b)):
            B.log("no %s in %s" % (b, B.BUILD))
            return 1
    res = []
    for folding in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            B.log("storm: %d alerts, %s" % (N, "with storm folding" if folding else "without storm folding"))
            res.append(run(tmp, folding))
            B.log(json.dumps(res[-1]))
    sec = report(res)
    try:
        prev = open(B.OUT).read()
    except OSError:
        prev = ""
    if "<!-- storm:begin -->" in prev and "<!-- storm:end -->" in prev:
        text = prev[:prev.index("<!-- storm:begin -->")] + sec.rstrip("\n") + \
            prev[prev.index("<!-- storm:end -->") + len("<!-- storm:end -->"):]
    else:
        i = prev.find("\n## Footprint")
        text = prev[:i + 1] + sec + "\n" + prev[i + 1:] if i >= 0 else prev + "\n" + sec
    with open(B.OUT, "w") as f:
        f.write(text)
    B.log("results written to " + B.OUT)
    print(sec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
