#!/usr/bin/python3
"""gen_fixtures_saas.py: writes tests/fixtures/{datadog,sentry,azure,gcp,pagerduty,opsgenie}/ payload + expected pairs.

Expected values (keys, times, portal URLs) are computed here independently of the C code.
Run from anywhere: /usr/bin/python3 tests/mappers/gen_fixtures_saas.py
"""
import copy
import datetime
import json
import os
import shutil
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "fixtures")
CONF = os.path.join(HERE, "..", "..", "conf")


def write(source, name, payload, expected, raw=None):
    d = os.path.join(ROOT, source)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w", encoding="utf-8") as f:
        if raw is not None:
            f.write(raw)
        else:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
    with open(os.path.join(d, name + ".expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=2, ensure_ascii=False)
        f.write("\n")


def ev(**kw):
    return {"events": [kw]}


def ignored(reason):
    return {"ignored_reason": reason, "count": 0}


def error(msg):
    return {"error": msg}


def rfc(epoch):
    while epoch >= 1e11:  # ms / us / ns -> s, as the mapper guesses units
        epoch /= 1000
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pct(s):
    return urllib.parse.quote(s, safe="-._~")


# ---------------------------------------------------------------- datadog
def datadog():
    S = "datadog"
    date = 1714557600000
    base = {
        "version": "casegate-1", "id": "7251392510432945120", "date": str(date), "last_updated": str(date),
        "event_type": "query_alert_monitor", "event_title": "[Triggered on {host:web-1}] Host is Down",
        "body": "%%%\n@webhook-casegate Host **web-1** stopped reporting.\n\n[Runbook](https://runbooks.example.com/host-down)\n%%%",
        "text_only_msg": "Host web-1 stopped reporting.", "aggreg_key": "9bd4ac313a4d1e8fae2482df7b77628",
        "hostname": "web-1", "link": "https://app.datadoghq.eu/event/event?id=7251392510432945120",
        "snapshot": "https://p.datadoghq.eu/snapshot/view/dd-snapshots-prod/org_1/2024-05-01/abc.png",
        "tags": "env:prod,host:web-1,service:checkout,monitor", "priority": "normal",
        "org": {"id": "1234", "name": "Acme"},
        "alert": {
            "id": "987654", "cycle_key": "6123456789012345678", "transition": "Triggered", "type": "error",
            "priority": "", "title": "[Triggered on {host:web-1}] Host is Down",
            "status": "host:web-1 has not reported for 5m", "scope": "host:web-1",
            "metric": "datadog.agent.up", "query": "\"datadog.agent.up\".over(\"*\").by(\"host\").last(2).count_by_status()",
        },
    }
    links = {"generator": base["link"], "monitor": "https://app.datadoghq.eu/monitors/987654", "image": base["snapshot"]}
    labels = {"host": "web-1", "env": "prod", "service": "checkout"}
    write(S, "triggered", base, ev(
        dedup_key="6123456789012345678", status="firing", severity="error", title="Host is Down (host:web-1)",
        starts_at=rfc(date), ends_at=None, labels=labels, annotations={}, links=links,
        description_contains=["\uff20webhook-casegate Host \\*\\*web-1\\*\\* stopped reporting.", "**Status:** host:web-1 has not reported for 5m",
                              "**Transition:** Triggered", "**Scope:** host:web-1", "**Metric:** datadog.agent.up",
                              "[Source](" + base["link"] + ")", "[monitor](https://app.datadoghq.eu/monitors/987654)"],
        description_excludes=["%%%"],
        ctx={"alert.id": "987654", "transition": "Triggered", "monitor_name": "Host is Down", "scope": "host:web-1",
             "tag_list": ["env:prod", "host:web-1", "service:checkout", "monitor"], "org.name": "Acme",
             "payload.alert.cycle_key": "6123456789012345678", "labels.service": "checkout"}))

    rec = copy.deepcopy(base)
    rec["alert"].update(transition="Recovered", type="success", title="[Recovered on {host:web-1}] Host is Down")
    rec["event_title"] = rec["alert"]["title"]
    write(S, "recovered", rec, ev(
        dedup_key="6123456789012345678", status="resolved", severity="success", title="Host is Down (host:web-1)",
        starts_at=None, ends_at=rfc(date), description_contains=["**Recovered:** " + rfc(date)]))

    for name, tr, atype, prio, sev in (
            ("warn_priority", "Warn", "warning", "P1", "P1"), ("re_warn", "Re-Warn", "warning", "", "warning"),
            ("no_data", "No Data", "error", "", "no_data"), ("re_triggered", "Re-Triggered", "error", "P3", "P3"),
            ("renotify_warning", "Renotify", "warning", "", "warning"), ("null_transition_success", "Null", "success", "", "success")):
        p = copy.deepcopy(base)
        p["alert"].update(transition=tr, type=atype, priority=prio)
        status = "resolved" if atype == "success" else "firing"
        write(S, name, p, ev(dedup_key="6123456789012345678", status=status, severity=sev,
                             description_contains=["**Transition:** " + tr] + (["**Monitor priority:** " + prio] if prio else [])))

    p = copy.deepcopy(base)
    p["alert"].update(cycle_key="", scope="availability-zone:us-east-1a, role:computing-node")
    p["tags"] = "role:computing-node,team:db,team:sre"
    p["alert"]["id"] = 1234
    write(S, "no_cycle_key_numeric_id", p, ev(
        dedup_key="1234/availability-zone:us-east-1a, role:computing-node",
        labels={"availability-zone": "us-east-1a", "role": "computing-node", "team": "db,sre", "host": "web-1"},
        links={"generator": base["link"], "monitor": "https://app.datadoghq.eu/monitors/1234", "image": base["snapshot"]},
        title="Host is Down (availability-zone:us-east-1a, role:computing-node)"))

    # Flat names as other integrations' templates use them (ilert, IncidentRelay).
    flat = {"alert_transition": "Recovered", "alert_id": "555", "alert_scope": "host:a", "title": "[Recovered on {host:a}] CPU high",
            "body": "CPU back to normal", "link": "https://app.datadoghq.com/monitors/555?group=host%3Aa", "date": "1714557600",
            "tags": "host:a"}
    write(S, "flat_names", flat, ev(dedup_key="555/host:a", status="resolved", title="CPU high (host:a)", ends_at=rfc(1714557600),
                                    links={"generator": flat["link"], "monitor": "https://app.datadoghq.com/monitors/555"},
                                    labels={"host": "a"}, description_contains=["CPU back to normal"]))

    # Datadog's default body: only the title says what happened.
    default = {"body": "%%%\nDisk almost full on db-1\n%%%", "last_updated": "1714557600000", "event_type": "query_alert_monitor",
               "title": "[Triggered on {host:db-1}] Disk full", "date": "1714557600000", "org": {"id": "1", "name": "Acme"},
               "id": "7251392510432945121"}
    write(S, "default_body", default, ev(dedup_key="title/Disk full/host:db-1", status="firing", severity="error",
                                         title="Disk full (host:db-1)", labels={"host": "db-1"}, links={},
                                         description="Disk almost full on db-1\n\n**Scope:** host:db-1\n**Date:** " + rfc(1714557600000) + "\n\n"))
    d2 = dict(default, title="[P1] [Recovered] Disk full")
    write(S, "default_body_priority_recovered", d2, ev(dedup_key="title/Disk full", status="resolved", severity="P1", title="Disk full"))
    d3 = dict(default, title="[Triggered] [prod] DB down")
    write(S, "default_body_bracketed_name", d3, ev(dedup_key="title/[prod] DB down", title="[prod] DB down", status="firing"))
    d4 = {"aggreg_key": "abc123", "body": "something"}
    write(S, "aggreg_only", d4, ev(dedup_key="aggreg/abc123", status="firing", severity="error", title="Datadog alert aggreg/abc123"))

    uni = copy.deepcopy(base)
    uni["alert"].update(title="[Triggered on {salle:Zürich 東京}] Température élevée 🔥", scope="salle:Zürich 東京", cycle_key="ü-1")
    uni["tags"] = "salle:Zürich 東京,équipe:réseau"
    write(S, "unicode", uni, ev(dedup_key="ü-1", title="Température élevée 🔥 (salle:Zürich 東京)",
                                labels={"salle": "Zürich 東京", "équipe": "réseau", "host": "web-1"}))

    huge = copy.deepcopy(base)
    huge["body"] = "x" * 200000
    huge["tags"] = ",".join("k%d:v%d" % (i, i) for i in range(500))
    write(S, "huge", huge, ev(dedup_key="6123456789012345678", description_min_len=200000,
                              ctx={"tag_list.499": "k499:v499", "labels.k499": "v499"}))

    odd = copy.deepcopy(base)
    odd["alert"].update(priority="None", transition="$ALERT_TRANSITION", type="warning", title="Host is Down")
    odd["link"] = "javascript:alert(1)"
    odd["snapshot"] = ""
    write(S, "unrendered_and_unsafe", odd, ev(dedup_key="6123456789012345678", status="firing", severity="warning",
                                              links={}, description_excludes=["javascript:"]))

    # The shipped template itself, posted unrendered: a sample, not an alert.
    with open(os.path.join(CONF, "datadog-webhook-payload.json"), encoding="utf-8") as f:
        tmpl = f.read()
    write(S, "template_unrendered", None, ignored("Datadog variables not rendered: a payload template, not a notification"), raw=tmpl)
    write(S, "bad_no_alert_fields", {"foo": "bar", "org": {"id": "1"}}, error("missing field 'alert.id'"))
    write(S, "bad_not_object", None, error("payload must be a JSON object"), raw="[1, 2]\n")


# ---------------------------------------------------------------- sentry
def sentry():
    S = "sentry"
    inst = {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}
    actor = {"id": "sentry", "name": "Sentry", "type": "application"}
    rule = {"aggregate": "count()", "dataset": "events", "environment": "prod", "id": "7", "name": "Too many errors",
            "organization_id": "5", "projects": ["bar"], "query": "level:error", "time_window": 10, "triggers": []}
    ma = {"alert_rule": rule, "date_closed": None, "date_created": "2020-09-13T12:26:40.000000Z",
          "date_detected": "2020-09-13T12:26:40.000000Z", "date_started": "2020-09-13T12:26:40.000000Z",
          "id": "4", "identifier": "1", "organization_id": "5", "projects": ["bar", "baz"], "status": 20,
          "title": "Sacred Marmot", "type": 2}

    def metric(action, **upd):
        m = copy.deepcopy(ma)
        m.update(upd)
        return {"action": action, "actor": actor, "installation": inst,
                "data": {"description_text": "1000 events in the last 10 minutes\nFilter: level:error",
                         "description_title": "%s: Too many errors" % action.capitalize(), "metric_alert": m,
                         "web_url": "https://sentry.io/organizations/baz/alerts/1/"}}

    write(S, "metric_critical", metric("critical"), ev(
        dedup_key="metric-alert/4", status="firing", severity="critical", title="Too many errors",
        starts_at="2020-09-13T12:26:40.000000Z", ends_at=None,
        labels={"project": "bar,baz", "environment": "prod", "dataset": "events"},
        links={"generator": "https://sentry.io/organizations/baz/alerts/1/"},
        description_contains=["**Critical: Too many errors**", "1000 events in the last 10 minutes\nFilter: level:error",
                              "**Metric:** `count()` where `level:error`", "**Time window:** 10 min"],
        ctx={"action": "critical", "resource": "metric_alert", "metric_alert.alert_rule.name": "Too many errors",
             "description_title": "Critical: Too many errors", "payload.installation.uuid": inst["uuid"]}))
    write(S, "metric_warning", metric("warning"), ev(dedup_key="metric-alert/4", status="firing", severity="warning"))
    write(S, "metric_resolved", metric("resolved", date_closed="2020-09-13T13:00:00.000000Z", status=2), ev(
        dedup_key="metric-alert/4", status="resolved", severity=None, ends_at="2020-09-13T13:00:00.000000Z",
        description_contains=["**Closed:** 2020-09-13T13:00:00.000000Z"]))
    m = metric("critical", id=42)
    del m["data"]["metric_alert"]["alert_rule"]
    m["data"]["metric_alert"]["title"] = "Sacred Marmot"
    write(S, "metric_numeric_id_no_rule", m, ev(dedup_key="metric-alert/42", title="Sacred Marmot", labels={"project": "bar,baz"}))
    write(S, "metric_other_action", metric("acknowledged"),
          ignored("Sentry metric alert action is not an alert transition (action 'acknowledged')"))
    m = metric("critical")
    del m["data"]["metric_alert"]["id"]
    write(S, "bad_metric_no_id", m, error("missing field 'data.metric_alert.id'"))

    issue = {"assignedTo": None, "count": "1", "culprit": "?(runner)", "firstSeen": "2019-08-19T20:58:37.391000Z",
             "id": "1170820242", "lastSeen": "2019-08-19T20:58:37.391000Z", "level": "error",
             "metadata": {"filename": "/runner", "type": "ReferenceError", "value": "blooopy is not defined"},
             "permalink": "https://sentry.io/organizations/acme/issues/1170820242/", "platform": "javascript",
             "project": {"id": "1", "name": "front-end", "platform": "", "slug": "front-end"}, "shortId": "FRONT-END-9",
             "status": "unresolved", "title": "ReferenceError: blooopy is not defined", "type": "error", "userCount": 3}

    def iss(action, **upd):
        i = copy.deepcopy(issue)
        i.update(upd)
        return {"action": action, "actor": actor, "installation": inst, "data": {"issue": i}}

    write(S, "issue_created", iss("created"), ev(
        dedup_key="issue/1170820242", status="firing", severity="error", title="ReferenceError: blooopy is not defined",
        starts_at="2019-08-19T20:58:37.391000Z", labels={"project": "front-end", "level": "error", "platform": "javascript"},
        links={"generator": "https://sentry.io/organizations/acme/issues/1170820242/"},
        description_contains=["**FRONT-END-9** in front-end", "**Error:** ReferenceError: blooopy is not defined",
                              "**Culprit:** ?(runner)", "**Users:** 3"],
        ctx={"resource": "issue", "action": "created", "issue.shortId": "FRONT-END-9"}))
    write(S, "issue_resolved", iss("resolved", status="resolved"), ev(dedup_key="issue/1170820242", status="resolved"))
    write(S, "issue_unresolved", iss("unresolved"), ev(dedup_key="issue/1170820242", status="firing"))
    for a in ("assigned", "ignored", "archived"):
        write(S, "issue_" + a, iss(a), ignored("Sentry issue change is not an alert transition (action '%s')" % a))
    p = iss("created", id=1170820243, title="", level="fatal", permalink=None)
    write(S, "issue_numeric_id_no_title", p, ev(dedup_key="issue/1170820243", severity="fatal",
                                                  title="ReferenceError: blooopy is not defined", links={}))
    p = iss("created")
    del p["data"]["issue"]["id"]
    write(S, "bad_issue_no_id", p, error("missing field 'data.issue.id'"))
    p = iss("created")
    del p["action"]
    write(S, "bad_issue_no_action", p, error("missing field 'action'"))

    event = {"event_id": "e4874d664c3540c1a32eab185f12c5ab", "issue_id": "1117540176", "level": "error",
             "culprit": "?(<anonymous>)", "datetime": "2019-08-19T21:06:17.677000Z", "platform": "javascript",
             "location": "<anonymous>", "release": "web@1.2.3",
             "metadata": {"type": "ReferenceError", "value": "heck is not defined"},
             "tags": [["browser", "Chrome 75.0.3770"], ["environment", "prod"], ["level", "error"], ["odd"], [1, 2]],
             "title": "ReferenceError: heck is not defined",
             "web_url": "https://sentry.io/organizations/test-org/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/"}

    def ea(**upd):
        e = copy.deepcopy(event)
        e.update(upd)
        return {"action": "triggered", "actor": actor, "installation": inst,
                "data": {"event": e, "triggered_rule": "Very Important Alert Rule!",
                         "issue_alert": {"title": "Very Important Alert Rule!", "settings": []}}}

    write(S, "event_alert", ea(), ev(
        dedup_key="issue/1117540176", status="firing", severity="error", title="ReferenceError: heck is not defined",
        starts_at="2019-08-19T21:06:17.677000Z",
        labels={"level": "error", "environment": "prod", "release": "web@1.2.3", "platform": "javascript"},
        links={"generator": event["web_url"], "issue": "https://sentry.io/organizations/test-org/issues/1117540176/"},
        description_contains=["**Alert rule:** Very Important Alert Rule!", "**Error:** ReferenceError: heck is not defined",
                              "**Environment:** prod"],
        ctx={"resource": "event_alert", "event_tags.browser": "Chrome 75.0.3770", "event.event_id": event["event_id"],
             "triggered_rule": "Very Important Alert Rule!"}))
    p = ea(issue_id=1117540177, title="", web_url="https://sentry.io/x", tags=None, metadata=None, message="boom")
    write(S, "event_alert_minimal", p, ev(dedup_key="issue/1117540177", title="boom", links={"generator": "https://sentry.io/x"}))
    p = ea()
    del p["data"]["event"]["issue_id"]
    write(S, "bad_event_no_issue_id", p, error("missing field 'data.event.issue_id'"))

    write(S, "installation_created", {"action": "created", "actor": actor, "installation": inst,
                                       "data": {"installation": {"uuid": inst["uuid"], "status": "installed"}}},
          ignored("Sentry installation webhook (action 'created')"))
    write(S, "installation_deleted", {"action": "deleted", "actor": actor, "installation": inst,
                                       "data": {"installation": {"uuid": inst["uuid"]}}},
          ignored("Sentry installation webhook (action 'deleted')"))
    write(S, "error_resource", {"action": "created", "data": {"error": {"event_id": "x"}}, "installation": inst},
          ignored("Sentry error webhook: one per event, not an alert (action 'created')"))
    write(S, "comment_resource", {"action": "created", "installation": inst,
                                   "data": {"comment_id": "1234", "issue_id": 100, "project_slug": "front-end",
                                            "timestamp": "2022-03-02T21:51:44.118160Z", "comment": "hi"}},
          ignored("Sentry comment webhook (action 'created')"))
    write(S, "legacy_plugin", {"id": "541485531", "project": "alerta5", "project_name": "alerta5", "project_slug": "alerta5",
                                "culprit": "raven.scripts.runner in main", "level": "error", "logger": None,
                                "message": "This is an example Python exception",
                                "url": "https://sentry.io/alertaio/alerta5/issues/541485531/",
                                "event": {"event_id": "0476467adf8f499ea795a48fcc4bf290", "tags": [["level", "error"]]}},
          ev(dedup_key="issue/541485531", status="firing", severity="error", title="This is an example Python exception",
             labels={"project": "alerta5", "level": "error"},
             links={"generator": "https://sentry.io/alertaio/alerta5/issues/541485531/"},
             ctx={"resource": "legacy_webhook", "event_tags.level": "error"}))
    write(S, "bad_no_data", {"action": "created"}, error("missing field 'data'"))
    write(S, "bad_unknown_data", {"action": "created", "data": {"something": {}}},
          error("missing field 'data.metric_alert', 'data.issue' or 'data.event'"))
    write(S, "bad_not_object", None, error("payload must be a JSON object"), raw="\"sentry\"\n")
    p = iss("created", title="Ошибка: 文字化け 🐛", culprit="naïve")
    write(S, "unicode", p, ev(title="Ошибка: 文字化け 🐛", description_contains=["**Culprit:** naïve"]))


# ---------------------------------------------------------------- azure
def azure():
    S = "azure"
    aid = "/subscriptions/11111111-2222-3333-4444-555555555555/providers/Microsoft.AlertsManagement/alerts/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
    rule_id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/microsoft.insights/metricAlerts/cpu-high"
    target = "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-web-1"
    ess = {"alertId": aid, "alertRule": "cpu-high", "alertRuleID": rule_id, "severity": "Sev1", "signalType": "Metric",
           "monitorCondition": "Fired", "monitoringService": "Platform", "alertTargetIDs": [target],
           "configurationItems": ["vm-web-1"], "originAlertId": "3f2d_x", "firedDateTime": "2024-05-01T10:00:00.1234567Z",
           "description": "CPU above 90% for 5 minutes", "essentialsVersion": "1.0", "alertContextVersion": "1.0"}
    ctxm = {"properties": None, "conditionType": "SingleResourceMultipleMetricCriteria",
            "condition": {"windowSize": "PT5M", "allOf": [{"metricName": "Percentage CPU", "metricNamespace": "Microsoft.Compute/virtualMachines",
                                                           "operator": "GreaterThan", "threshold": "90", "timeAggregation": "Average",
                                                           "dimensions": [], "metricValue": 97.5}]}}

    def az(**upd):
        e = copy.deepcopy(ess)
        e.update(upd)
        return {"schemaId": "azureMonitorCommonAlertSchema",
                "data": {"essentials": e, "alertContext": copy.deepcopy(ctxm), "customProperties": {"team": "web", "Key2": "Value2"}}}

    portal = "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/" + pct(aid)
    links = {"generator": portal, "rule": "https://portal.azure.com/#resource" + rule_id,
             "resource": "https://portal.azure.com/#resource" + target}
    write(S, "metric_fired", az(), ev(
        dedup_key=aid, status="firing", severity="Sev1", title="cpu-high on vm-web-1",
        starts_at="2024-05-01T10:00:00.1234567Z", ends_at=None,
        labels={"team": "web", "Key2": "Value2", "alert_rule": "cpu-high", "signal_type": "Metric",
                "monitoring_service": "Platform", "target": "vm-web-1"},
        annotations={}, links=links,
        description_contains=["CPU above 90% for 5 minutes", "**Severity:** Sev1", "**Targets:** " + target,
                              "- Percentage CPU GreaterThan 90 (value 97.5)", "- team: web"],
        description_excludes=["**Resolved:**"],
        ctx={"alertRule": "cpu-high", "alertContext.condition.windowSize": "PT5M", "customProperties.team": "web",
             "essentials.description": "CPU above 90% for 5 minutes", "payload.schemaId": "azureMonitorCommonAlertSchema"}))
    write(S, "metric_resolved", az(monitorCondition="Resolved", resolvedDateTime="2024-05-01T10:07:00Z"), ev(
        dedup_key=aid, status="resolved", ends_at="2024-05-01T10:07:00Z", description_contains=["**Resolved:** 2024-05-01T10:07:00Z"]))
    for i, sev in enumerate(("Sev0", "Sev4")):
        write(S, "severity_" + sev.lower(), az(severity=sev), ev(severity=sev))
    log = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {
        "alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/log-1", "alertRule": "errors-in-logs",
        "severity": "Sev2", "signalType": "Log", "monitorCondition": "Fired", "monitoringService": "Log Alerts V2",
        "alertTargetIDs": ["/subscriptions/x/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/ws-1"],
        "firedDateTime": "2024-05-01T10:00:00Z"},
        "alertContext": {"condition": {"windowSize": "PT10M", "allOf": [{"searchQuery": "AppTraces | where SeverityLevel > 2",
                                                                          "operator": "GreaterThan", "threshold": 0, "metricValue": 12,
                                                                          "linkToSearchResultsUI": "https://portal.azure.com/#view/x"}]}}}}
    write(S, "log_alert", log, ev(dedup_key=log["data"]["essentials"]["alertId"], title="errors-in-logs on ws-1",
                                  labels={"alert_rule": "errors-in-logs", "signal_type": "Log", "monitoring_service": "Log Alerts V2", "target": "ws-1"},
                                  description_contains=["- AppTraces \\| where SeverityLevel &gt; 2 GreaterThan 0 (value 12)"]))
    minimal = {"data": {"essentials": {"alertId": "/x/alerts/min-1", "monitorCondition": "Fired"}}}
    write(S, "missing_optional", minimal, ev(dedup_key="/x/alerts/min-1", status="firing", severity=None, title="Azure Monitor alert min-1",
                                             labels={}, links={"generator": "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/%2Fx%2Falerts%2Fmin-1"}))
    uni = az(alertRule="règle-CPU-東京", description="Überlast 🔥")
    uni["data"]["customProperties"] = {"équipe": "réseau", "nested": {"x": 1}, "n": 5}
    write(S, "unicode", uni, ev(title="règle-CPU-東京 on vm-web-1", description_contains=["Überlast 🔥", "- équipe: réseau", "- n: 5"],
                                labels={"équipe": "réseau", "alert_rule": "règle-CPU-東京", "signal_type": "Metric",
                                        "monitoring_service": "Platform", "target": "vm-web-1"}))
    many = az()
    many["data"]["essentials"]["alertTargetIDs"] = ["/subscriptions/x/vm-%d" % i for i in range(300)]
    many["data"]["essentials"]["configurationItems"] = []
    write(S, "many_targets", many, ev(title="cpu-high on vm-0", description_contains=["/subscriptions/x/vm-299"]))
    write(S, "bad_schema", {"schemaId": "AzureMonitorMetricAlert", "data": {"context": {}}}, error("invalid field 'schemaId'"))
    write(S, "bad_no_essentials", {"schemaId": "azureMonitorCommonAlertSchema", "data": {}}, error("missing field 'data.essentials'"))
    p = az()
    del p["data"]["essentials"]["alertId"]
    write(S, "bad_no_alert_id", p, error("missing field 'data.essentials.alertId'"))
    write(S, "bad_condition", az(monitorCondition="Maybe"), error("invalid field 'data.essentials.monitorCondition'"))
    write(S, "bad_not_object", None, error("payload must be a JSON object"), raw="null\n")


# ---------------------------------------------------------------- gcp
def gcp():
    S = "gcp"
    inc = {"incident_id": "0.opqiw61fsv7p", "scoping_project_id": "internal-project", "scoping_project_number": 12345,
           "url": "https://console.cloud.google.com/monitoring/alerting/incidents/0.opqiw61fsv7p?project=internal-project",
           "severity": "Critical", "started_at": 1577840461, "ended_at": None, "state": "open", "resource_id": "11223344",
           "resource_name": "internal-project gke-node-1", "resource_display_name": "gke-node-1",
           "resource_type_display_name": "VM Instance",
           "resource": {"type": "gce_instance", "labels": {"instance_id": "11223344", "project_id": "internal-project", "zone": "us-central1-c"}},
           "metric": {"type": "compute.googleapis.com/instance/cpu/utilization", "displayName": "CPU utilization",
                      "labels": {"instance_name": "gke-node-1"}},
           "metadata": {"system_labels": {"state": "ACTIVE"}, "user_labels": {"team": "platform"}},
           "policy_name": "High CPU", "policy_user_labels": {"severity": "page"},
           "condition_name": "VM Instance - CPU utilization [MAX]", "threshold_value": "0.9", "observed_value": "0.95",
           "condition": {"name": "projects/internal-project/alertPolicies/1/conditions/2", "displayName": "VM Instance - CPU utilization [MAX]"},
           "documentation": {"content": "Check the node's pods.", "mime_type": "text/markdown", "subject": "High CPU",
                             "links": [{"displayName": "Playbook", "url": "https://example.com/playbook"},
                                       {"url": "https://example.com/second"}, {"displayName": "bad", "url": "ftp://x"}]},
           "summary": "CPU utilization for gke-node-1 is above the threshold of 0.9 with a value of 0.95."}

    def g(**upd):
        i = copy.deepcopy(inc)
        i.update(upd)
        return {"incident": i, "version": "1.2"}

    write(S, "open", g(), ev(
        dedup_key="0.opqiw61fsv7p", status="firing", severity="Critical", title="High CPU: VM Instance - CPU utilization [MAX]",
        starts_at=rfc(1577840461), ends_at=None,
        labels={"severity": "page", "team": "platform", "instance_name": "gke-node-1", "instance_id": "11223344",
                "project_id": "internal-project", "zone": "us-central1-c", "state": "ACTIVE", "resource_type": "gce_instance",
                "metric_type": "compute.googleapis.com/instance/cpu/utilization", "project": "internal-project"},
        links={"generator": inc["url"], "Playbook": "https://example.com/playbook", "link1": "https://example.com/second"},
        description_contains=[inc["summary"], "Check the node's pods.", "**State:** open", "**Observed value:** 0.95",
                              "**Resource:** gke-node-1 (VM Instance)"],
        ctx={"policy_name": "High CPU", "resource.labels.zone": "us-central1-c", "documentation_text": "Check the node's pods.",
             "payload.version": "1.2"}))
    write(S, "closed", g(state="closed", ended_at=1577877071, severity="no severity"), ev(
        dedup_key="0.opqiw61fsv7p", status="resolved", severity="no severity", ends_at=rfc(1577877071),
        description_contains=["**Ended:** " + rfc(1577877071)]))
    write(S, "upper_case_state", g(state="CLOSED"), ev(status="resolved"))
    p = g(documentation="Plain text docs", incident_id=123456, severity=None)
    write(S, "documentation_string", p, ev(dedup_key="123456", severity=None, description_contains=["Plain text docs"],
                                           ctx={"documentation_text": "Plain text docs"}))
    write(S, "test_version", {"version": "test", "incident": {"incident_id": "12345", "state": "OPEN", "summary": "Test Incident"}},
          ignored("test notification"))
    write(S, "missing_optional", {"incident": {"incident_id": "x-1", "state": "open"}},
          ev(dedup_key="x-1", status="firing", title="Cloud Monitoring incident x-1", labels={}, links={}, starts_at=None))
    write(S, "unicode", g(policy_name="Política 東京 🔥", condition_name="Política 東京 🔥"), ev(title="Política 東京 🔥"))
    write(S, "bad_no_incident", {"version": "1.2"}, error("missing field 'incident'"))
    write(S, "bad_no_id", {"version": "1.2", "incident": {"state": "open"}}, error("missing field 'incident.incident_id'"))
    write(S, "bad_no_state", {"version": "1.2", "incident": {"incident_id": "1"}}, error("missing field 'incident.state'"))
    write(S, "bad_state", g(state="acknowledged"), error("invalid field 'incident.state'"))
    write(S, "bad_not_object", None, error("payload must be a JSON object"), raw="42\n")


# ---------------------------------------------------------------- pagerduty
def pagerduty():
    S = "pagerduty"
    data = {"id": "PGR0VU2", "type": "incident", "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2", "number": 2, "status": "triggered",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662", "created_at": "2020-04-09T15:16:27Z",
            "title": "A little bump in the road",
            "service": {"html_url": "https://acme.pagerduty.com/services/PF9KMXH", "id": "PF9KMXH", "summary": "API Service",
                        "type": "service_reference"},
            "assignees": [{"id": "PTUXL6G", "summary": "User 123", "type": "user_reference"}],
            "escalation_policy": {"id": "PUS0KTE", "summary": "Default", "type": "escalation_policy_reference"},
            "teams": [{"id": "PFCVPS0", "summary": "Engineering"}, {"id": "PFCVPS1", "summary": "SRE"}],
            "priority": {"id": "PSO75BM", "summary": "P1", "type": "priority_reference"}, "urgency": "high",
            "conference_bridge": None, "resolve_reason": None}

    def pd(et, **upd):
        d = copy.deepcopy(data)
        d.update(upd)
        return {"event": {"id": "5ac64822-4adc-4fda-ade0-410becf0de4f", "event_type": et, "resource_type": "incident",
                          "occurred_at": "2020-10-02T18:45:22.169Z",
                          "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
                          "client": {"name": "PagerDuty"}, "data": d}}

    write(S, "triggered", pd("incident.triggered"), ev(
        dedup_key="PGR0VU2", status="firing", severity="P1", title="A little bump in the road", starts_at="2020-04-09T15:16:27Z",
        ends_at=None, labels={"service": "API Service", "urgency": "high", "priority": "P1", "escalation_policy": "Default",
                              "teams": "Engineering,SRE"},
        links={"generator": "https://acme.pagerduty.com/incidents/PGR0VU2", "service": "https://acme.pagerduty.com/services/PF9KMXH"},
        description_contains=["**Incident #2** on API Service", "**Event:** incident.triggered by Tenex Engineer",
                              "**Assignees:** User 123", "**Incident key:** d3640fbd41094207a1c11e58e46b1662"],
        ctx={"title": "A little bump in the road", "service.summary": "API Service", "event.event_type": "incident.triggered",
             "event.agent.summary": "Tenex Engineer", "event.data": None, "payload.event.data.number": 2}))
    write(S, "resolved", pd("incident.resolved", status="resolved"), ev(
        dedup_key="PGR0VU2", status="resolved", ends_at="2020-10-02T18:45:22.169Z"))
    for et in ("incident.reopened", "incident.escalated", "incident.unacknowledged", "incident.priority_updated"):
        write(S, et.split(".")[1], pd(et), ev(dedup_key="PGR0VU2", status="firing"))
    write(S, "low_urgency_no_priority", pd("incident.triggered", priority=None, urgency="low", teams=[]), ev(
        severity="low", labels={"service": "API Service", "urgency": "low", "escalation_policy": "Default"}))
    for et in ("incident.acknowledged", "incident.annotated", "incident.delegated", "incident.reassigned",
               "incident.responder.added", "service.updated"):
        write(S, et.replace(".", "_"), pd(et), ignored("PagerDuty %s is not an alert transition" % et))
    write(S, "ping", {"event": {"id": "01", "event_type": "pagey.ping", "resource_type": "pagey", "occurred_at": "2021-12-08T22:44:32Z",
                                "agent": None, "client": None, "data": {"message": "Hello from your friend Pagey!", "type": "ping"}}},
          ignored("PagerDuty ping"))
    p = pd("incident.triggered", title="Сбой 東京 🔥", service={"summary": "Zürich", "html_url": "https://acme.pagerduty.com/services/Z"})
    write(S, "unicode", p, ev(title="Сбой 東京 🔥", description_contains=["on Zürich"]))
    write(S, "missing_optional", {"event": {"event_type": "incident.triggered", "data": {"id": "PX"}}},
          ev(dedup_key="PX", title="PagerDuty incident PX", severity=None, labels={}, links={}))
    write(S, "bad_v2", {"messages": [{"event": "incident.trigger", "incident": {"id": "P1"}}]}, error("a v2 webhook"))
    write(S, "bad_no_event", {"foo": 1}, error("missing field 'event'"))
    write(S, "bad_no_event_type", {"event": {"data": {"id": "P1"}}}, error("missing field 'event.event_type'"))
    p = pd("incident.triggered")
    del p["event"]["data"]["id"]
    write(S, "bad_no_incident_id", p, error("missing field 'event.data.id'"))
    write(S, "bad_not_object", None, error("payload must be a JSON object"), raw="[]\n")


# ---------------------------------------------------------------- opsgenie
def opsgenie():
    S = "opsgenie"
    alert = {"alertId": "ec03dad6-62c8-4c94-b38b-d88f398e900f", "message": "Disk full on db-1", "tags": ["vip", "env:prod", "team:db"],
             "tinyId": "2", "source": "monitoring", "entity": "db-1", "alias": "disk-db-1", "createdAt": 1502709956288,
             "updatedAt": 1502709999288000110, "username": "System", "userId": "8d43", "recipients": ["ops"], "teams": ["DBA"],
             "priority": "P2", "description": "Disk /var is 97% full", "details": {"region": "eu-west-1", "runbook": "https://x"}}

    def og(action, **upd):
        a = copy.deepcopy(alert)
        a.update(upd)
        return {"action": action, "alert": a, "source": {"name": "web", "type": "API"}, "integrationId": "daca",
                "integrationName": "casegate"}

    write(S, "create", og("Create"), ev(
        dedup_key="disk-db-1", status="firing", severity="P2", title="Disk full on db-1", starts_at=rfc(1502709956288), ends_at=None,
        labels={"region": "eu-west-1", "runbook": "https://x", "env": "prod", "team": "db", "entity": "db-1", "source": "monitoring"},
        links={},
        description_contains=["Disk /var is 97% full", "**Action:** Create by System", "**Tags:** vip, env:prod, team:db",
                              "**Teams:** DBA", "- region: eu-west-1"],
        ctx={"message": "Disk full on db-1", "details.region": "eu-west-1", "integrationName": "casegate",
             "tag_list": ["vip", "env:prod", "team:db"], "payload.source.type": "API", "source": "monitoring"}))
    write(S, "close", og("Close"), ev(dedup_key="disk-db-1", status="resolved", ends_at=rfc(1502709999288000110)))
    write(S, "delete", og("Delete"), ev(dedup_key="disk-db-1", status="resolved"))
    for a in ("Escalate", "UnAcknowledge", "UpdatePriority"):
        write(S, a.lower(), og(a), ev(dedup_key="disk-db-1", status="firing"))
    for a in ("Acknowledge", "AddNote", "TakeOwnership", "AddTags", "Snooze"):
        write(S, a.lower(), og(a), ignored("Opsgenie action '%s' is not an alert transition" % a))
    write(S, "numeric_priority_no_alias", og("Create", priority=3, alias=""), ev(dedup_key=alert["alertId"], severity="P3"))
    write(S, "odd_priority", og("Create", priority="urgent"), ev(severity=None))
    write(S, "missing_optional", {"action": "Create", "alert": {"alertId": "a-1"}},
          ev(dedup_key="a-1", title="Opsgenie alert a-1", severity=None, labels={}, links={}, starts_at=None))
    write(S, "unicode", og("Create", message="Überlast 東京 🔥", tags=["équipe:réseau"]),
          ev(title="Überlast 東京 🔥", labels={"region": "eu-west-1", "runbook": "https://x", "équipe": "réseau",
                                            "entity": "db-1", "source": "monitoring"}))
    write(S, "bad_no_action", {"alert": {"alertId": "a"}}, error("missing field 'action'"))
    write(S, "bad_no_alert", {"action": "Create"}, error("missing field 'alert'"))
    write(S, "bad_no_ids", {"action": "Close", "alert": {"message": "x"}}, error("missing field 'alert.alias'"))
    write(S, "bad_not_object", None, error("payload must be a JSON object"), raw="true\n")


if __name__ == "__main__":
    for s in ("datadog", "sentry", "azure", "gcp", "pagerduty", "opsgenie"):
        shutil.rmtree(os.path.join(ROOT, s), ignore_errors=True)
    datadog()
    sentry()
    azure()
    gcp()
    pagerduty()
    opsgenie()
