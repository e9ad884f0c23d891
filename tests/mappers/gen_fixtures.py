#!/usr/bin/python3
"""gen_fixtures.py: writes tests/fixtures/{alertmanager,grafana,generic}/ payload + expected pairs.

Expected values (hashes, silence URLs) are computed here independently of the C code.
Run from anywhere: /usr/bin/python3 tests/mappers/gen_fixtures.py
"""
import hashlib
import json
import os
import urllib.parse

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
ZERO = "0001-01-01T00:00:00Z"


def write(source, name, payload, expected=None, group=None, raw=None):
    d = os.path.join(ROOT, source)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w", encoding="utf-8") as f:
        if raw is not None:
            f.write(raw)
        else:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
    for suffix, exp in ((".expected.json", expected), (".group.expected.json", group)):
        if exp is None:
            continue
        with open(os.path.join(d, name + suffix), "w", encoding="utf-8") as f:
            json.dump(exp, f, indent=2, ensure_ascii=False)
            f.write("\n")


def label_hash(labels, prefix=b""):
    b = prefix
    for k in sorted(labels, key=lambda s: s.encode()):
        b += k.encode() + b"\xff" + labels[k].encode() + b"\xff"
    return hashlib.sha256(b).hexdigest()


def group_hash(receiver, group_labels):
    return label_hash(group_labels, b"group\xff" + receiver.encode() + b"\xff")


def pct(s):
    return urllib.parse.quote(s, safe="-._~")


def am_silence(ext, labels):
    inner = ", ".join('%s="%s"' % (k, labels[k].replace("\\", "\\\\").replace('"', '\\"'))
                      for k in sorted(labels, key=lambda s: s.encode()))
    return ext.rstrip("/") + "/#/silences/new?filter=" + pct("{" + inner + "}")


def gf_silence(ext, labels):
    return ext.rstrip("/") + "/alerting/silence/new?alertmanager=grafana" + "".join(
        "&matcher=" + pct(k) + "%3D" + pct(labels[k]) for k in sorted(labels, key=lambda s: s.encode()))


def am_alert(status, labels, ann=None, fp=None, starts="2024-05-01T10:00:00Z", ends=ZERO, gen=None):
    a = {"status": status, "labels": labels, "annotations": ann or {}, "startsAt": starts, "endsAt": ends}
    if gen is not None:
        a["generatorURL"] = gen
    if fp is not None:
        a["fingerprint"] = fp
    return a


def am_payload(alerts, status=None, ext="http://alertmanager.example.com:9093", group_labels=None,
               common_labels=None, common_ann=None, group_key='{}/{}:{alertname="HighCPU"}', truncated=0):
    if status is None:
        status = "firing" if any(a.get("status") == "firing" for a in alerts) else "resolved"
    return {
        "version": "4", "groupKey": group_key, "truncatedAlerts": truncated, "status": status,
        "receiver": "casegate", "groupLabels": group_labels or {}, "commonLabels": common_labels or {},
        "commonAnnotations": common_ann or {}, "externalURL": ext, "alerts": alerts,
    }


def alertmanager():
    S = "alertmanager"
    ext = "http://alertmanager.example.com:9093/"
    lbl = {"alertname": "HighCPU", "instance": "web-1:9100", "job": "node", "severity": "critical"}
    ann = {"summary": "CPU above 90% on web-1", "description": "CPU has been above 90% for 10 minutes.",
           "runbook_url": "https://runbooks.example.com/HighCPU", "dashboard_url": "https://grafana.example.com/d/cpu"}
    gen = "http://prometheus.example.com:9090/graph?g0.expr=cpu+%3E+0.9&g0.tab=1"
    p = am_payload([am_alert("firing", lbl, ann, "6f1a3c2b9d8e7f00", gen=gen)], ext=ext,
                   group_labels={"alertname": "HighCPU"}, common_labels=lbl, common_ann=ann)
    write(S, "firing_single", p, {"events": [{
        "dedup_key": "6f1a3c2b9d8e7f00", "status": "firing", "severity": "critical",
        "title": "HighCPU: CPU above 90% on web-1", "labels": lbl, "annotations": ann,
        "links": {"generator": gen, "runbook": ann["runbook_url"], "dashboard": ann["dashboard_url"],
                  "silence": am_silence(ext, lbl)},
        "starts_at": "2024-05-01T10:00:00Z", "ends_at": None,
        "description_contains": ["**Summary:** CPU above 90% on web-1", "CPU has been above 90% for 10 minutes.",
                                 "- instance: web-1:9100", "**Started:** 2024-05-01T10:00:00Z",
                                 "[Runbook](https://runbooks.example.com/HighCPU)", "[Source](" + gen + ")"],
        "description_excludes": ["**Ended:**", "**Annotations:**"],
        "ctx": {"labels.alertname": "HighCPU", "payload.externalURL": ext, "payload.receiver": "casegate",
                "fingerprint": "6f1a3c2b9d8e7f00", "generatorURL": gen, "status": "firing",
                "severity": "critical", "links.silence": am_silence(ext, lbl), "payload.alerts": None,
                "startsAt": "2024-05-01T10:00:00Z"},
    }]}, {"events": [{
        "dedup_key": '{}/{}:{alertname="HighCPU"}', "status": "firing", "severity": "critical",
        "title": "HighCPU", "labels": lbl, "annotations": ann,
        "links": {"generator": gen, "runbook": ann["runbook_url"], "dashboard": ann["dashboard_url"],
                  "silence": am_silence(ext, lbl)},
        "description_contains": ["**1 alert: 1 firing, 0 resolved** (receiver casegate)",
                                 "- **FIRING** HighCPU: CPU above 90% on web-1"],
        "ctx": {"payload.externalURL": ext, "groupKey": '{}/{}:{alertname="HighCPU"}', "firing_count": 1,
                "resolved_count": 0, "alerts.0.fingerprint": "6f1a3c2b9d8e7f00", "commonLabels.job": "node"},
    }]})

    rl = dict(lbl, severity="warning")
    p = am_payload([am_alert("resolved", rl, {"summary": "CPU above 90% on web-1"}, "aa00bb11cc22dd33",
                             starts="2024-05-01T10:00:00Z", ends="2024-05-01T10:20:00.123Z", gen=gen)], ext=ext)
    write(S, "resolved_single", p, {"events": [{
        "dedup_key": "aa00bb11cc22dd33", "status": "resolved", "severity": "warning",
        "title": "HighCPU: CPU above 90% on web-1", "starts_at": "2024-05-01T10:00:00Z",
        "ends_at": "2024-05-01T10:20:00.123Z", "description_contains": ["**Ended:** 2024-05-01T10:20:00.123Z"],
        "ctx": {"status": "resolved", "ends_at": "2024-05-01T10:20:00.123Z"},
    }]}, {"events": [{"dedup_key": '{}/{}:{alertname="HighCPU"}', "status": "resolved", "severity": "warning",
                      "ends_at": "2024-05-01T10:20:00.123Z"}]})

    # Partially resolved group: the resolved alert is critical, the firing ones warning/info.
    a1 = am_alert("resolved", {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
                  {"summary": "disk 99%"}, "1111111111111111", starts="2024-05-01T09:00:00Z",
                  ends="2024-05-01T09:30:00Z")
    a2 = am_alert("firing", {"alertname": "DiskFull", "instance": "db-2", "severity": "warning"},
                  {"summary": "disk 91%"}, "2222222222222222", starts="2024-05-01T08:00:00Z")
    a3 = am_alert("firing", {"alertname": "DiskFull", "instance": "db-3", "severity": "info"},
                  {"summary": "disk 85%"}, "3333333333333333", starts="2024-05-01T10:00:00Z")
    common = {"alertname": "DiskFull"}
    p = am_payload([a1, a2, a3], ext=ext, group_labels={"alertname": "DiskFull", "cluster": "prod"},
                   common_labels=common, group_key='{}:{alertname="DiskFull", cluster="prod"}')
    write(S, "partially_resolved", p, {"events": [
        {"dedup_key": "1111111111111111", "status": "resolved", "severity": "critical", "title": "DiskFull: disk 99%"},
        {"dedup_key": "2222222222222222", "status": "firing", "severity": "warning", "title": "DiskFull: disk 91%"},
        {"dedup_key": "3333333333333333", "status": "firing", "severity": "info", "title": "DiskFull: disk 85%"},
    ]}, {"events": [{
        "dedup_key": '{}:{alertname="DiskFull", cluster="prod"}', "status": "firing", "severity": "warning",
        "title": "DiskFull (cluster=prod)", "labels": common, "starts_at": "2024-05-01T08:00:00Z", "ends_at": None,
        "links": {"silence": am_silence(ext, common)},
        "description_contains": ["**3 alerts: 2 firing, 1 resolved**", "**Group labels:** alertname=DiskFull, cluster=prod",
                                 "- **RESOLVED** DiskFull: disk 99% — instance=db-1, severity=critical",
                                 "- **FIRING** DiskFull: disk 91% — instance=db-2, severity=warning"],
        "description_excludes": ["truncated"],
        "ctx": {"firing_count": 2, "resolved_count": 1, "status": "firing", "payload.groupLabels.cluster": "prod"},
    }]})

    # Whole group resolved: severity falls back to the resolved alerts, ends_at is the latest end.
    b1 = dict(a1)
    b2 = dict(a2, status="resolved", endsAt="2024-05-01T11:00:00Z")
    p = am_payload([b1, b2], ext=ext, group_labels={"alertname": "DiskFull"}, common_labels=common,
                   group_key='{}:{alertname="DiskFull"}')
    write(S, "group_resolved", p, {"events": [
        {"status": "resolved", "severity": "critical"}, {"status": "resolved", "severity": "warning",
                                                         "ends_at": "2024-05-01T11:00:00Z"}]},
          {"events": [{"dedup_key": '{}:{alertname="DiskFull"}', "status": "resolved", "severity": "critical",
                       "starts_at": "2024-05-01T08:00:00Z", "ends_at": "2024-05-01T11:00:00Z",
                       "description_contains": ["**2 alerts: 0 firing, 2 resolved**", "**Ended:** 2024-05-01T11:00:00Z"]}]})

    p = am_payload([a2, a3], ext=ext, common_labels=common, truncated=7)
    write(S, "truncated", p, {"note": "7 alerts truncated by Alertmanager", "count": 2, "events": []},
          {"note": "7 alerts truncated by Alertmanager", "events": [{
              "description_contains": ["_7 more alerts truncated by Alertmanager_"], "severity": "warning",
              "ctx": {"truncatedAlerts": 7}}]})

    # Only what is required: no fingerprint, annotations, URLs, groupKey, version, receiver.
    ml = {"instance": "web-9", "alertname": "Down"}
    p = {"status": "firing", "alerts": [{"status": "firing", "labels": ml}],
         "groupLabels": {"job": "api"}}
    write(S, "missing_optional", p, {"events": [{
        "dedup_key": label_hash(ml), "status": "firing", "severity": None, "title": "Down: web-9",
        "labels": ml, "annotations": {}, "links": {}, "starts_at": None, "ends_at": None,
        "description_contains": ["**Labels:**\n- alertname: Down\n- instance: web-9\n"],
        "description_excludes": ["**Links:**", "**Started:**"],
        "ctx": {"labels.instance": "web-9", "dedup_key": label_hash(ml), "payload.groupLabels.job": "api"},
    }]}, {"events": [{"dedup_key": group_hash("", {"job": "api"}), "status": "firing", "severity": None,
                      "title": "Down (job=api)", "labels": {}, "links": {}}]})

    # An alert with nothing but a status, and a non-string label value (ignored).
    p = {"version": "4", "status": "resolved", "receiver": "team-x", "alerts": [
        {"status": "resolved", "labels": {"n": 5}, "annotations": None}]}
    write(S, "no_labels", p, {"events": [{
        "dedup_key": hashlib.sha256(b"").hexdigest(), "status": "resolved", "labels": {}, "annotations": {},
        "title": "Alertmanager alert " + hashlib.sha256(b"").hexdigest()}]},
          {"events": [{"title": "Alertmanager alert group for team-x", "status": "resolved",
                       "dedup_key": group_hash("team-x", {})}]})

    ul = {"alertname": "TempératureÉlevée", "salle": "Zürich 東京", "severity": "warning", "quote": 'a"b\\c'}
    ua = {"summary": "Température trop élevée 🔥 (42 °C)", "description": "Ünïcödé ✓\nline two"}
    p = am_payload([am_alert("firing", ul, ua, "fedcba9876543210")], ext="https://am.example.org/sub/path",
                   common_labels=ul)
    write(S, "unicode", p, {"events": [{
        "title": "TempératureÉlevée: Température trop élevée 🔥 (42 °C)", "labels": ul, "annotations": ua,
        "links": {"silence": am_silence("https://am.example.org/sub/path", ul)},
        "description_contains": ["- salle: Zürich 東京", "Ünïcödé ✓\nline two"],
        "ctx": {"labels.salle": "Zürich 東京"}}]},
          {"events": [{"title": "TempératureÉlevée", "links": {"silence": am_silence("https://am.example.org/sub/path", ul)}}]})

    big = "x" * 50000 + "é" * 25000  # 100 000 bytes
    p = am_payload([am_alert("firing", {"alertname": "Big", "severity": "error"}, {"description": big, "summary": "big one"},
                             "b16b16b16b16b16b")], ext=ext)
    write(S, "huge_annotation", p, {"events": [{
        "title": "Big: big one", "severity": "error", "description_min_len": 100000,
        "description_contains": [big[-100:]], "ctx": {"annotations.description": big}}]},
          {"events": [{"title": "Big", "severity": "error", "description_maxlen": 40000}]})

    many = [am_alert("firing" if i % 3 else "resolved",
                     {"alertname": "Many", "shard": "s%03d" % i, "severity": ["critical", "warning", "info"][i % 3]},
                     {"summary": "shard %d lagging" % i}, "%016x" % (0xabc000 + i)) for i in range(500)]
    p = am_payload(many, ext=ext, common_labels={"alertname": "Many"}, group_labels={"alertname": "Many"},
                   group_key='{}:{alertname="Many"}')
    write(S, "many_alerts", p, {"count": 500, "events": [
        {"index": 0, "dedup_key": "%016x" % 0xabc000, "status": "resolved", "severity": "critical"},
        {"index": 499, "dedup_key": "%016x" % (0xabc000 + 499), "status": "firing", "severity": "warning",
         "title": "Many: shard 499 lagging", "ctx": {"labels.shard": "s499", "payload.alerts": None}}]},
          {"events": [{"dedup_key": '{}:{alertname="Many"}', "status": "firing", "severity": "warning",
                       "description_contains": ["**500 alerts: 333 firing, 167 resolved**", "more alerts\n"],
                       "description_maxlen": 34000, "ctx": {"firing_count": 333, "alerts.499.labels.shard": "s499"}}]})

    p = am_payload([], status="resolved", ext=ext)
    write(S, "empty_alerts", p, {"count": 0, "ignored_reason": "no alerts in notification"},
          {"count": 0, "ignored_reason": "no alerts in notification"})

    p = am_payload([am_alert("firing", {"alertname": "X"}, {"runbook_url": "javascript:alert(1)"}, "0000000000000001",
                             gen="data:text/html,hi")], ext="ftp://nope")
    write(S, "unsafe_links", p, {"events": [{"links": {}, "description_excludes": ["javascript", "data:"]}]})

    p = am_payload([am_alert("firing", {"alertname": "V"}, None, "0000000000000002")], ext=ext)
    p["version"] = "5"
    p["unknownField"] = {"x": 1}
    write(S, "other_version", p, {"events": [{"dedup_key": "0000000000000002", "title": "V",
                                               "ctx": {"payload.version": "5", "payload.unknownField.x": 1}}]})

    # Bad shapes: each names the field.
    write(S, "bad_not_object", None, {"error": "payload must be a JSON object"},
          {"error": "payload must be a JSON object"}, raw='[{"alerts": []}]\n')
    write(S, "bad_missing_alerts", {"version": "4", "status": "firing"}, {"error": "missing field 'alerts'"},
          {"error": "missing field 'alerts'"})
    write(S, "bad_alerts_not_array", {"alerts": {"0": {}}}, {"error": "invalid field 'alerts': not an array"})
    write(S, "bad_alert_not_object", {"alerts": [{"status": "firing"}, "oops"]},
          {"error": "invalid field 'alerts[1]': not an object"}, {"error": "invalid field 'alerts[1]': not an object"})
    write(S, "bad_labels", {"alerts": [{"status": "firing", "labels": ["a", "b"]}]},
          {"error": "invalid field 'alerts[0].labels': not an object"})
    write(S, "bad_status", {"alerts": [{"status": 1, "labels": {}}]},
          {"error": "invalid field 'alerts[0].status': not a string"})


def grafana():
    S = "grafana"
    ext = "https://grafana.example.com/"
    l1 = {"alertname": "High memory", "grafana_folder": "Infra", "team": "blue", "severity": "high"}
    l2 = {"alertname": "High CPU", "grafana_folder": "Infra", "team": "blue", "severity": "critical"}
    an = {"summary": "memory at 95%", "runbook_url": "https://runbooks.example.com/mem", "__dashboardUid__": "mem",
          "owner": "team-blue"}
    sil1 = "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHigh+memory"
    a1 = {"status": "firing", "labels": l1, "annotations": an, "startsAt": "2024-06-01T12:00:00+02:00", "endsAt": ZERO,
          "generatorURL": "https://grafana.example.com/alerting/grafana/abc/view?orgId=1", "fingerprint": "c6eadffa33fcdf37",
          "silenceURL": sil1, "dashboardURL": "https://grafana.example.com/d/mem?orgId=1",
          "panelURL": "https://grafana.example.com/d/mem?orgId=1&viewPanel=2", "values": {"B": 95.12345678901, "C": 1},
          "valueString": "[ var='B' labels={} value=95.12345678901 ]", "imageURL": "https://grafana.example.com/img/x.png"}
    a2 = {"status": "firing", "labels": l2, "annotations": {"summary": "cpu at 99%"}, "startsAt": "2024-06-01T11:00:00+02:00",
          "endsAt": ZERO, "generatorURL": "https://grafana.example.com/alerting/grafana/def/view?orgId=1",
          "fingerprint": "bc97ff14869b13e3", "silenceURL": "", "dashboardURL": "", "panelURL": "",
          "values": {"B": 99.5, "C": 1}, "valueString": ""}
    common = {"grafana_folder": "Infra", "team": "blue"}
    p = {"receiver": "casegate", "status": "firing", "orgId": 1, "alerts": [a1, a2], "groupLabels": {"grafana_folder": "Infra"},
         "commonLabels": common, "commonAnnotations": {}, "externalURL": ext, "version": "1",
         "groupKey": '{}/{__grafana_autogenerated__="true"}:{grafana_folder="Infra"}', "truncatedAlerts": 0,
         "title": "[FIRING:2] Infra (blue)", "state": "alerting", "message": "**Firing** ..."}
    write(S, "firing_two", p, {"events": [
        {"dedup_key": "c6eadffa33fcdf37", "status": "firing", "severity": "high", "title": "High memory: memory at 95%",
         "links": {"generator": a1["generatorURL"], "runbook": an["runbook_url"], "dashboard": a1["dashboardURL"],
                   "panel": a1["panelURL"], "silence": sil1, "image": a1["imageURL"]},
         "starts_at": "2024-06-01T12:00:00+02:00",
         "description_contains": ["**Value:** \\[ var='B' labels={} value=95.12345678901 \\]", "[Panel](",
                                  "**Annotations:**\n- owner: team-blue\n"],
         "description_excludes": ["__dashboardUid__"],
         "ctx": {"valueString": a1["valueString"], "values.B": 95.12345678901, "payload.orgId": 1,
                 "payload.title": "[FIRING:2] Infra (blue)", "dashboardURL": a1["dashboardURL"]}},
        {"dedup_key": "bc97ff14869b13e3", "severity": "critical", "title": "High CPU: cpu at 99%",
         "links": {"generator": a2["generatorURL"], "silence": gf_silence(ext, l2)},
         "description_contains": ["**Value:** B=99.5, C=1"]},
    ]}, {"events": [{
        "dedup_key": p["groupKey"], "status": "firing", "severity": "critical", "title": "grafana_folder=Infra",
        "labels": common, "starts_at": "2024-06-01T11:00:00+02:00",
        "links": {"silence": gf_silence(ext, common)},
        "description_contains": ["**2 alerts: 2 firing, 0 resolved**", "— value: \\[ var='B' labels={} value=95.12345678901 \\]",
                                 "— value: B=99.5, C=1", "- **FIRING** High CPU: cpu at 99% — alertname=High CPU, severity=critical"],
        "ctx": {"firing_count": 2, "orgId": 1, "payload.state": "alerting"}}]})

    r = {"status": "resolved", "labels": {"alertname": "Disk", "severity": "warning"},
         "annotations": {"summary": "disk low"}, "startsAt": "2024-06-01T10:00:00Z", "endsAt": "2024-06-01T10:30:00Z",
         "generatorURL": "https://grafana.example.com/alerting/grafana/x/view", "fingerprint": "d8a21484c9c25a60",
         "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DDisk",
         "dashboardURL": "", "panelURL": "", "valueString": "[ var='B0' value=24 ]"}
    p = {"receiver": "casegate", "status": "resolved", "alerts": [r], "groupLabels": {}, "commonLabels": r["labels"],
         "commonAnnotations": r["annotations"], "externalURL": ext, "version": "1", "groupKey": "{}/{}:{}",
         "truncatedAlerts": 0, "orgId": 1, "title": "[RESOLVED] Disk", "state": "ok", "message": "**Resolved**"}
    write(S, "resolved_state_ok", p, {"events": [{
        "dedup_key": "d8a21484c9c25a60", "status": "resolved", "severity": "warning", "title": "Disk: disk low",
        "ends_at": "2024-06-01T10:30:00Z", "links": {"generator": r["generatorURL"], "silence": r["silenceURL"]},
        "description_contains": ["**Value:** \\[ var='B0' value=24 \\]", "**Ended:** 2024-06-01T10:30:00Z"]}]},
          {"events": [{"dedup_key": "{}/{}:{}", "status": "resolved", "title": "Disk",
                       "links": {"generator": r["generatorURL"], "silence": r["silenceURL"]}}]})

    # Deprecated top-level state "ok" without `status`: resolved in group mode.
    p2 = dict(p)
    del p2["status"]
    p2["alerts"] = [dict(r, status="firing")]
    write(S, "state_ok_only", p2, {"events": [{"status": "firing"}]},
          {"events": [{"status": "resolved", "severity": "warning"}]})

    # No fingerprint, no silenceURL: key from labels, silence link built in Grafana's form.
    ml = {"alertname": "Lat ency", "service": "api/v2", "severity": "warning"}
    p = {"status": "firing", "externalURL": "https://g.example.com/grafana", "alerts": [
        {"status": "firing", "labels": ml, "annotations": {}}]}
    write(S, "missing_optional", p, {"events": [{
        "dedup_key": label_hash(ml), "title": "Lat ency", "links": {"silence": gf_silence("https://g.example.com/grafana", ml)},
        "starts_at": None, "ends_at": None}]},
          {"events": [{"dedup_key": group_hash("", {}), "title": "Lat ency", "severity": "warning",
                       "links": {}}]})

    ul = {"alertname": "Latência alta ⚠", "região": "São Paulo"}
    p = {"status": "firing", "externalURL": ext, "alerts": [{"status": "firing", "labels": ul,
                                                           "annotations": {"summary": "p99 > 2 s — 😱"},
                                                           "fingerprint": "0123456789abcdef", "valueString": "B=2.5 ✓"}]}
    write(S, "unicode", p, {"events": [{"title": "Latência alta ⚠: p99 > 2 s — 😱",
                                         "links": {"silence": gf_silence(ext, ul)},
                                         "description_contains": ["**Value:** B=2.5 ✓", "- região: São Paulo"]}]})

    p = {"status": "firing", "truncatedAlerts": 1, "alerts": [dict(a2)], "commonLabels": l2, "externalURL": ext}
    write(S, "truncated", p, {"note": "1 alert truncated by Grafana", "count": 1, "events": []},
          {"note": "1 alert truncated by Grafana", "events": [{"title": "High CPU",
                                                               "description_contains": ["_1 more alert truncated by Grafana_"]}]})

    p = {"status": "resolved", "alerts": [], "state": "ok", "version": "1"}
    write(S, "empty_alerts", p, {"count": 0, "ignored_reason": "no alerts in notification"},
          {"count": 0, "ignored_reason": "no alerts in notification"})

    # Legacy (Grafana <= 8) notifier bodies.
    leg = {"dashboardId": 1, "evalMatches": [{"value": 100, "metric": "High value", "tags": None},
                                             {"value": 200.5, "metric": "Higher Value", "tags": None}],
           "imageUrl": "https://grafana.com/assets/img/blog/mixed_styles.png", "message": "Someone is testing the alert notification within Grafana.",
           "orgId": 0, "panelId": 1, "ruleId": 42, "ruleName": "Test notification", "ruleUrl": "https://grafana.example.com/d/x?panelId=1",
           "state": "alerting", "tags": {"severity": "critical", "team": "db"}, "title": "[Alerting] Test notification"}
    write(S, "legacy_alerting", leg, {"events": [{
        "dedup_key": "rule-42", "status": "firing", "severity": "critical", "title": "Test notification",
        "labels": {"severity": "critical", "team": "db"},
        "links": {"generator": leg["ruleUrl"], "image": leg["imageUrl"]},
        "description_contains": ["Someone is testing", "- High value: 100\n", "- Higher Value: 200.5\n", "**State:** alerting"],
        "ctx": {"ruleId": 42, "payload.ruleName": "Test notification", "labels.team": "db"}}]},
          {"events": [{"dedup_key": "rule-42", "status": "firing"}]})
    write(S, "legacy_ok", dict(leg, state="ok", title="[OK] Test notification", evalMatches=[]),
          {"events": [{"dedup_key": "rule-42", "status": "resolved", "title": "Test notification",
                       "description_excludes": ["**Values:**"]}]})
    write(S, "legacy_paused", dict(leg, state="paused"), {"count": 0, "ignored_reason": "legacy Grafana alert state 'paused'"})
    write(S, "legacy_no_rule", {"evalMatches": [], "state": "alerting", "title": "x"},
          {"error": "missing field 'ruleId' (legacy Grafana alert)"})

    write(S, "bad_missing_alerts", {"status": "firing", "orgId": 1, "title": "x"}, {"error": "missing field 'alerts'"},
          {"error": "missing field 'alerts'"})
    write(S, "bad_annotations", {"alerts": [{"status": "firing", "annotations": "text"}]},
          {"error": "invalid field 'alerts[0].annotations': not an object"})
    write(S, "bad_not_object", None, {"error": "payload must be a JSON object"}, raw='"just a string"\n')


def generic():
    S = "generic"
    p = {"title": "Backup failed", "status": "open", "severity": "error", "dedup_key": "backup-nightly",
         "description": "exit code 3", "labels": {"host": "nas", "n": 1}}
    write(S, "basic", p, {"events": [{"dedup_key": "backup-nightly", "status": "firing", "severity": "error",
                                      "title": "Backup failed", "description": "exit code 3",
                                      "labels": {"host": "nas"}, "links": {}, "ctx": {"labels.host": "nas", "payload.status": "open"}}]})
    write(S, "state_ok", {"state": "OK", "fingerprint": "abc"}, {"events": [{"dedup_key": "abc", "status": "resolved",
                                                                           "severity": None, "title": None}]})
    noid = {"message": "disk full", "host": "a"}
    write(S, "no_id", noid, {"events": [{"dedup_key": hashlib.sha256(json.dumps(noid, separators=(",", ":")).encode()).hexdigest(),
                                          "status": "firing"}]})
    write(S, "not_object", None, {"error": "payload must be a JSON object"}, raw="[1, 2]\n")


if __name__ == "__main__":
    alertmanager()
    grafana()
    generic()
