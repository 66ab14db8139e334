import TallyCore

/// `AlertFigures` as the text the `alerts.figures` column holds: a JSON object with instants in microseconds and
/// money in nano-dollars (integers, never floats), `{"period_start_us":…,"spent_nanos":…,"summary":"…"}`; absent
/// figures are left out.
enum FiguresColumn {
    static func text(_ f: AlertFigures) -> String {
        var w = JSONWriter()
        w.beginObject()
        if let v = f.periodStart { w.field("period_start_us", v.microseconds) }
        if let v = f.periodEnd { w.field("period_end_us", v.microseconds) }
        if let v = f.spent { w.field("spent_nanos", v.nanos) }
        if let v = f.amount { w.field("amount_nanos", v.nanos) }
        if let v = f.percent { w.field("percent", v) }
        if let v = f.threshold { w.field("threshold", v) }
        w.field("summary", f.summary)
        w.endObject()
        return w.text
    }

    /// nil when the text is not such an object (the row reader then names the column).
    static func figures(_ text: String) -> AlertFigures? {
        guard let json = try? JSONParser.parse(Array(text.utf8)), case .string(let summary)? = json["summary"] else {
            return nil
        }
        func integer(_ key: String) -> Int64?? {
            switch json[key] {
            case nil, .null?: return .some(nil)
            case .number(let n)?:
                guard let i = Int64(n) else { return nil }
                return .some(i)
            default: return nil
            }
        }
        guard let start = integer("period_start_us"), let end = integer("period_end_us"),
            let spent = integer("spent_nanos"), let amount = integer("amount_nanos"),
            let threshold = integer("threshold")
        else { return nil }
        var percent: String?
        switch json["percent"] {
        case nil, .null?: percent = nil
        case .string(let p)?: percent = p
        default: return nil
        }
        return AlertFigures(
            periodStart: start.map(Instant.init(microseconds:)), periodEnd: end.map(Instant.init(microseconds:)),
            spent: spent.map(USD.init(nanos:)), amount: amount.map(USD.init(nanos:)), percent: percent,
            threshold: threshold.map { Int($0) }, summary: summary)
    }
}
