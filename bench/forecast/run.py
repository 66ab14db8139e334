"""Forecast accuracy benchmark (issue 18): Tally's method against seasonal-naive, AutoETS and AutoTheta (statsforecast,
season length 7) on the same rolling-origin folds, 30-day horizon. MASE (scaled by the in-sample seasonal-naive error
of each fold's history), MAPE (days with cost) and p10–p90 coverage, per series and overall, plus Tally's latency.

Usage: run.py --tally .build/release/tally [--json out.json]   (scripts/bench-forecast sets it all up)"""

import argparse
import datetime
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

import suite as series_suite

HORIZON = 30


def tally_forecasts(binary, folds):
    payload = {"folds": [dict(id=str(i), start=_day(f, 0), horizon=HORIZON,
                              values=[f"{max(v, 0):.9f}" for v in f["history"]]) for i, f in enumerate(folds)]}
    out = subprocess.run([binary, "forecast-bench"], input=json.dumps(payload).encode(), capture_output=True,
                         check=True)
    answers = json.loads(out.stdout)["forecasts"]
    return [dict(p10=np.array(a["p10"]), p50=np.array(a["p50"]), p90=np.array(a["p90"])) for a in answers], \
        [a["latency_ms"] for a in answers]


def _day(fold, index):
    first = datetime.date.fromisoformat(fold["first_day"])
    return (first + datetime.timedelta(days=fold["offset"] + index)).isoformat()


def statsforecast_forecasts(folds):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    rows = []
    for i, f in enumerate(folds):
        days = pd.date_range(_day(f, 0), periods=len(f["history"]), freq="D")
        rows.append(pd.DataFrame(dict(unique_id=str(i), ds=days, y=f["history"])))
    frame = pd.concat(rows)
    models = dict(seasonal_naive=SeasonalNaive(season_length=7), auto_ets=AutoETS(season_length=7),
                  auto_theta=AutoTheta(season_length=7))
    results = {}
    for name, model in models.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = StatsForecast(models=[model], freq="D", n_jobs=1, fallback_model=SeasonalNaive(season_length=7))
            out = fitted.forecast(df=frame, h=HORIZON, level=[80])
        column = [c for c in out.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
        per = []
        for i in range(len(folds)):
            part = out[out["unique_id"] == str(i)]
            per.append(dict(p50=np.maximum(part[column].to_numpy(), 0), p10=np.maximum(part[f"{column}-lo-80"].to_numpy(), 0),
                            p90=np.maximum(part[f"{column}-hi-80"].to_numpy(), 0)))
        results[name] = per
        print(f"{name}: {time.perf_counter() - started:.1f} s for {len(folds)} folds", file=sys.stderr)
    return results


def scores(fold, forecast):
    history, actual = np.asarray(fold["history"]), np.asarray(fold["actual"])
    lag = 7 if len(history) > 14 else 1
    naive = np.mean(np.abs(history[lag:] - history[:-lag])) if len(history) > lag else 0
    error = np.abs(actual - forecast["p50"])
    nonzero = actual > 0
    return dict(mase=error.mean() / naive if naive > 0 else np.nan,
                mape=np.mean(error[nonzero] / actual[nonzero]) if nonzero.any() else np.nan,
                inside=int(np.sum((actual >= forecast["p10"]) & (actual <= forecast["p90"]))), days=len(actual))


def table(folds, methods):
    """{method: {series or 'overall': {mase, mape, coverage}}}; overall weighs each series equally."""
    report = {}
    names = list(dict.fromkeys(f["series"] for f in folds))
    for method, forecasts in methods.items():
        per_series = {}
        for name in names:
            rows = [scores(f, fc) for f, fc in zip(folds, forecasts) if f["series"] == name]
            per_series[name] = dict(mase=np.nanmean([r["mase"] for r in rows]), mape=np.nanmean([r["mape"] for r in rows]),
                                    coverage=sum(r["inside"] for r in rows) / sum(r["days"] for r in rows),
                                    folds=len(rows))
        per_series["overall"] = {k: float(np.mean([per_series[n][k] for n in names])) for k in ("mase", "mape", "coverage")}
        per_series["overall"]["folds"] = len(folds)
        report[method] = per_series
    return report


def markdown(report, latencies):
    methods = list(report)
    names = list(report[methods[0]])
    lines = ["| series | folds | " + " | ".join(f"{m} MASE / MAPE / cov" for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for name in names:
        cells = [f"{report[m][name]['mase']:.3f} / {100 * report[m][name]['mape']:.1f}% / "
                 f"{100 * report[m][name]['coverage']:.0f}%" for m in methods]
        label = f"**{name}**" if name == "overall" else name
        lines.append(f"| {label} | {report[methods[0]][name]['folds']} | " + " | ".join(cells) + " |")
    lat = np.array(latencies)
    lines.append("")
    lines.append(f"Tally latency per forecast (182 days of history at most, horizon {HORIZON}): median "
                 f"{np.median(lat):.3f} ms, p99 {np.percentile(lat, 99):.3f} ms, max {lat.max():.3f} ms "
                 f"over {len(lat)} forecasts.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tally", required=True)
    parser.add_argument("--json")
    parser.add_argument("--only-tally", action="store_true", help="skip statsforecast (quick iteration)")
    args = parser.parse_args()
    folds = series_suite.folds(series_suite.build(), horizon=HORIZON)
    tally, latencies = tally_forecasts(args.tally, folds)
    methods = {"tally": tally}
    if not args.only_tally:
        methods.update(statsforecast_forecasts(folds))
    report = table(folds, methods)
    print(markdown(report, latencies))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(report=report, latency_ms=latencies), out, indent=1)


if __name__ == "__main__":
    main()
