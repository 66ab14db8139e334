import TallyCore
import TallyForecast
import TallyServices

/// JSON shapes of `GET /api/v1/forecast` and `GET /api/v1/anomalies` (issue 18): amounts as exact decimal strings.
enum ForecastJSON {
    static func forecast(_ a: ForecastAnswer) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("method", a.method)
        w.key("history")
        w.beginArray()
        for d in a.history {
            w.beginObject()
            w.field("day", d.day.description)
            w.field("cost_usd", BudgetJSON.amount(d.cost))
            w.endObject()
        }
        w.endArray()
        w.key("forecast")
        w.beginArray()
        for d in a.forecast {
            w.beginObject()
            w.field("day", d.day.description)
            writeBand(d.band, into: &w)
            w.endObject()
        }
        w.endArray()
        w.key("period_end")
        w.beginObject()
        w.field("day", a.periodEnd.day.description)
        writeBand(a.periodEnd.band, into: &w)
        w.field("period_start", a.periodStart?.description)
        w.field("spent_usd", BudgetJSON.amount(a.periodSpent))
        w.endObject()
        w.key("budget")
        if let b = a.budget {
            w.beginObject()
            w.field("id", b.budget.id)
            w.field("name", b.budget.name)
            w.field("amount_usd", BudgetJSON.amount(b.budget.amount))
            w.field("risk", b.risk.rawValue)
            w.field("exceed_day_p50", b.exceedDayP50?.description)
            w.field("days_until_exceeded", b.daysUntilExceeded)
            w.endObject()
        } else {
            w.null()
        }
        w.key("backtest")
        w.beginObject()
        w.key("mase")
        number(a.backtest.mase, into: &w)
        w.key("mape")
        number(a.backtest.mape, into: &w)
        w.key("coverage_p10_p90")
        number(a.backtest.coverageP10P90, into: &w)
        w.field("days", a.backtest.days)
        w.endObject()
        w.field("spent_today_usd", BudgetJSON.amount(a.spentToday))
        w.endObject()
        return w.text
    }

    static func anomalies(_ list: [Anomaly], from: CivilDate, to: CivilDate, projects: [String: String]) -> String {
        func shown(_ dimension: UsageDimension?, _ value: String?) -> String? {
            dimension == .project ? value.map { projects[$0] ?? $0 } : value
        }
        var w = JSONWriter()
        w.beginObject()
        w.field("from", from.description)
        w.field("to", to.description)
        w.key("anomalies")
        w.beginArray()
        for a in list {
            w.beginObject()
            w.field("day", a.day.description)
            w.field("dimension", a.dimension?.rawValue)
            w.field("value", shown(a.dimension, a.value))
            w.field("cost_usd", BudgetJSON.amount(a.cost))
            w.key("expected")
            w.beginObject()
            writeBand(a.expected, into: &w)
            w.endObject()
            w.key("contributors")
            w.beginArray()
            for c in a.contributors {
                w.beginObject()
                w.field("dimension", c.dimension.rawValue)
                w.field("value", shown(c.dimension, c.value))
                w.field("cost_usd", BudgetJSON.amount(c.cost))
                w.field("baseline_usd", BudgetJSON.amount(c.baseline))
                w.field("delta_usd", BudgetJSON.amount(c.delta))
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// "p1", "p10", "p50", "p90", "p99" as decimal strings.
    static func writeBand(_ q: Quantiles, into w: inout JSONWriter) {
        for (name, value) in [("p1", q.p1), ("p10", q.p10), ("p50", q.p50), ("p90", q.p90), ("p99", q.p99)] {
            w.field(name, BudgetJSON.amount(value))
        }
    }

    /// A measure rounded to 4 decimals, null when unknown or not finite.
    private static func number(_ x: Double?, into w: inout JSONWriter) {
        guard let x, x.isFinite else { return w.null() }
        let rounded = (x * 10_000).rounded() / 10_000
        w.raw(rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded))
    }
}
