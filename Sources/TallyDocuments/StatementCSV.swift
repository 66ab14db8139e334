import TallyCore

/// A statement as CSV (RFC 4180, CRLF line ends, a header row): one row per group, then a "Total" row, for a
/// spreadsheet. Amounts are exact decimal strings (`USD.decimalString`) so the rows add up to the total to the
/// nano-dollar; the share is the same string the other forms print.
public enum StatementCSV {
    static let header = [
        "period", "group_by", "group", "requests", "errors", "unpriced_requests", "input_tokens", "output_tokens",
        "cached_input_tokens", "cache_write_input_tokens", "cost_usd", "share_percent", "previous_cost_usd",
    ]

    public static func render(_ s: Statement) -> String {
        var lines = [header.joined(separator: ",")]
        func row(_ group: String, _ m: UsageMetrics, previous: USD) -> String {
            // Text cells come from users (a project's name) and go through TallyCore's one CSV rule: quoted when
            // needed, and a leading = + - @ tab or CR neutralised. Numbers are written by us and left as they are,
            // so a negative amount stays a number.
            let text = [s.period.label, s.groupBy, group].map { CSV.cell(plain($0)) }
            let numbers = [
                String(m.requests), String(m.errors), String(m.unpricedRequests), String(m.inputTokens),
                String(m.outputTokens), String(m.cachedInputTokens), String(m.cacheWriteInputTokens),
                m.cost.decimalString, StatementFigures.share(m.cost, of: s.totals.cost), previous.decimalString,
            ]
            return (text + numbers).joined(separator: ",")
        }
        for group in s.groups { lines.append(row(group.name, group.metrics, previous: group.previousCost)) }
        lines.append(row("Total", s.totals, previous: s.previous.totals.cost))
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// The value with NUL and the other control characters a spreadsheet would choke on removed; tab, CR and LF
    /// stay, for `CSV.cell` to quote or neutralise, so a name keeps its characters as far as a CSV file can.
    private static func plain(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: { isDropped($0) }) else { return value }
        return String(String.UnicodeScalarView(value.unicodeScalars.filter { !isDropped($0) }))
    }

    private static func isDropped(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: false
        case 0x00...0x1F, 0x7F...0x9F: true
        default: false
        }
    }
}
