import TallyAggregate
import TallyCore
import TallyWeb

/// `GET /api/v1/reconciliation`: per group, what Tally observed and estimated beside what the provider reported and
/// billed, the difference, and whether it passes the threshold.
enum ReconciliationJSON {
    static func json(
        _ lines: [ProviderLedger.Line], from: Instant, to: Instant, grain: TimeGrain?, dimension: UsageDimension?,
        thresholdBasisPoints threshold: Int64
    ) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("from", from.rfc3339)
        w.field("to", to.rfc3339)
        w.field("time_zone", "UTC")
        w.field("currency", "USD")
        w.field("threshold_percent", percent(threshold))
        w.key("groups")
        w.beginArray()
        for line in lines {
            w.beginObject()
            if let grain { w.field(grain.rawValue, line.period) }
            if let dimension { w.field(dimension.rawValue, line.value) }
            w.key("observed")
            w.beginObject()
            w.field("requests", line.observed.requests)
            w.field("input_tokens", line.observed.inputTokens)
            w.field("output_tokens", line.observed.outputTokens)
            w.field("estimated_cost_usd", line.observed.knownCost?.decimalString)
            w.endObject()
            w.key("provider")
            w.beginObject()
            w.field("requests", line.provider.requests)
            w.field("input_tokens", line.provider.inputTokens)
            w.field("output_tokens", line.provider.outputTokens)
            w.field("estimated_cost_usd", line.provider.cost.decimalString)
            w.field("billed_cost_usd", line.provider.providerCost.decimalString)
            w.endObject()
            w.key("difference")
            w.beginObject()
            w.field("input_tokens", line.provider.inputTokens - line.observed.inputTokens)
            w.field("output_tokens", line.provider.outputTokens - line.observed.outputTokens)
            w.field("cost_usd", line.difference?.decimalString)
            w.field("cost_percent", line.differenceBasisPoints.map(percent))
            w.endObject()
            w.field("flagged", line.flagged)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// Hundredths of a percent as a decimal string: 1234 → "12.34".
    static func percent(_ basisPoints: Int64) -> String {
        let sign = basisPoints < 0 ? "-" : ""
        let m = basisPoints.magnitude
        var fraction = String(m % 100).leftPadded(2)
        while fraction.last == "0" { fraction.removeLast() }
        return "\(sign)\(m / 100)" + (fraction.isEmpty ? "" : "." + fraction)
    }
}
