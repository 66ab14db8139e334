#!/usr/bin/env python3
"""Summarise a bench/run.sh results directory as Markdown: python3 bench/report.py bench/results/<stamp>"""
import json, os, re, sys

d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.strip()]
print("| phase | label | figure | server max VmRSS / VmHWM (MB) | notes |\n|---|---|---|---|---|")
for r in rows:
    rss = "%s / %s" % (r.get("max_vmrss_mb", "-"), r.get("vmhwm_mb", "-"))
    ph = r["phase"]
    if ph == "raw":
        print(f"| raw | {r['label']} | {r['rows_per_s']:,} rows/s | - | {r['rows']:,} rows in {r['seconds']} s |")
    elif ph in ("batch", "seed"):
        print(f"| {ph} | {r['label']} | {r['events_per_s']:,} events/s | {rss} | {r['accepted']:,} accepted, "
              f"{r['duplicates']} dup, {r['errors']} failed requests in {r['seconds']} s, {r['threads']} threads |")
    elif ph == "store":
        print(f"| store | {r['label']} | {r['events']:,} events | - | data dir {r['file_mb']} MB |")
    elif ph == "query":
        print(f"| query | {r['label']} | p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms | {rss} | "
              f"n={r['n']}, statuses {r['statuses']}, first {r['first_ms']} ms, max {r['max_ms']} ms, {r['resp_bytes']:,} B |")
    elif ph == "rss":
        lab = r["label"].replace("single-", "")
        f = os.path.join(d, f"wrk-single-{lab}.txt")
        txt = open(f).read() if os.path.exists(f) else ""
        rps = re.search(r"Requests/sec:\s+([\d.]+)", txt)
        lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", txt, re.M))
        non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
        errs = re.search(r"Socket errors: (.*)", txt)
        print(f"| single | {lab} | {float(rps.group(1)) if rps else 0:,.0f} events/s, p50 {lat.get('50')}, p99 {lat.get('99')} | {rss} | "
              f"non-2xx {non2.group(1) if non2 else 0}{', socket errors ' + errs.group(1) if errs else ''} |")
