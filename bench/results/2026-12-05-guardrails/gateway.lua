-- wrk script of bench/gateway_bench.py: one fixed POST. env GB_BODY (JSON body), GB_HEADERS ("Name: value" lines)
wrk.method = "POST"
wrk.body = os.getenv("GB_BODY")
wrk.headers["Content-Type"] = "application/json"
for k, v in string.gmatch(os.getenv("GB_HEADERS") or "", "([^\n:]+): ([^\n]+)") do wrk.headers[k] = v end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests":%d,"seconds":%.3f,"bytes":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,'
    .. '"p999_ms":%.3f,"mean_ms":%.3f,"max_ms":%.3f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,'
    .. '"errors_status":%d,"errors_timeout":%d}\n', summary.requests, summary.duration / 1e6, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.mean / 1000, latency.max / 1000, e.connect, e.read, e.write, e.status,
    e.timeout))
end
