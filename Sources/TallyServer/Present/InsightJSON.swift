import TallyCore
import TallyServices

/// The JSON shape of an insight: `{"id", "kind", "title", "detail", "evidence": {…}, "estimated_monthly_savings_usd"?,
/// "explorer_url", "status", "first_seen", "last_seen"}` (savings left out when the kind has none).
enum InsightJSON {
    static func write(_ i: Insight, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", i.id)
        w.field("kind", i.finding.kind.rawValue)
        w.field("title", i.finding.title)
        w.field("detail", i.finding.detail)
        w.key("evidence")
        w.beginObject()
        for figure in i.finding.evidence {
            switch figure.value {
            case .usd(let v): w.field(figure.name, AlertText.decimal(v))
            case .count(let v): w.field(figure.name, v)
            case .percent(let v), .text(let v): w.field(figure.name, v)
            }
        }
        w.endObject()
        if let savings = i.finding.estimatedMonthlySavings {
            w.field("estimated_monthly_savings_usd", AlertText.decimal(savings))
        }
        w.field("explorer_url", i.finding.explorerURL)
        w.field("status", i.status.rawValue)
        w.field("first_seen", i.firstSeen.rfc3339)
        w.field("last_seen", i.lastSeen.rfc3339)
        w.endObject()
    }

    static func insight(_ i: Insight) -> String {
        var w = JSONWriter()
        write(i, into: &w)
        return w.text
    }

    /// "in_" and 24 lowercase hex digits (`InsightService.id`).
    static func isInsightID(_ id: String) -> Bool {
        id.hasPrefix("in_") && id.utf8.count == 27
            && id.utf8.dropFirst(3).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
