-- alertmanager.lua: wrk script posting realistic Alertmanager webhooks (~1.4 KB), one new alert per request.
-- usage: wrk -s bench/alertmanager.lua http://HOST:PORT/hooks/am   (token from env CG_BENCH_TOKEN)

local counter = 0
local token = os.getenv("CG_BENCH_TOKEN") or "bench-token"
local thread_id = 0

function setup(thread)
   thread:set("id", thread_id)
   thread_id = thread_id + 1
end

function init(args)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. token
end

local template = [[{"version":"4","groupKey":"{}/{}:{alertname=\"HighRequestLatency\",instance=\"%s\"}","truncatedAlerts":0,"status":"firing","receiver":"casegate","groupLabels":{"alertname":"HighRequestLatency","instance":"%s"},"commonLabels":{"alertname":"HighRequestLatency","instance":"%s","job":"checkout-api","severity":"critical","service":"checkout","team":"payments","env":"production","region":"eu-west-1"},"commonAnnotations":{"summary":"p99 latency above 2s on %s","description":"The 99th percentile of request latency on %s has been above 2 seconds for 10 minutes. Customers see slow checkouts; check the database connection pool and the upstream payment provider.","runbook_url":"https://runbooks.example.com/HighRequestLatency","dashboard_url":"https://grafana.example.com/d/checkout-latency"},"externalURL":"http://alertmanager.example.com:9093/","alerts":[{"status":"firing","labels":{"alertname":"HighRequestLatency","instance":"%s","job":"checkout-api","severity":"critical","service":"checkout","team":"payments","env":"production","region":"eu-west-1"},"annotations":{"summary":"p99 latency above 2s on %s","description":"The 99th percentile of request latency on %s has been above 2 seconds for 10 minutes. Customers see slow checkouts; check the database connection pool and the upstream payment provider.","runbook_url":"https://runbooks.example.com/HighRequestLatency","dashboard_url":"https://grafana.example.com/d/checkout-latency"},"startsAt":"2024-05-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.com:9090/graph?g0.expr=histogram_quantile%%280.99%%29&g0.tab=1","fingerprint":"%016x"}]}]]

function request()
   counter = counter + 1
   local inst = string.format("pod-%d-%d:8080", id or 0, counter)
   local body = string.format(template, inst, inst, inst, inst, inst, inst, inst, inst, counter)
   return wrk.format(nil, nil, nil, body)
end
