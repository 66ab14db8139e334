import Foundation
import TallyCore
import Testing

@testable import TallyDocuments

@Suite struct StatementCSVTests {
    /// RFC 4180 read back: fields split at commas outside quotes, "" inside quotes is one quote, records end at CRLF.
    static func parse(_ csv: String) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var scalars = Array(csv.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            if quoted {
                if scalar == "\"" {
                    if scalars.first == "\"" {
                        field.unicodeScalars.append("\"")
                        scalars = scalars.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(scalar)
                }
            } else if scalar == "\"" {
                quoted = true
            } else if scalar == "," {
                record.append(field)
                field = ""
            } else if scalar == "\r", scalars.first == "\n" {
                scalars = scalars.dropFirst()
                record.append(field)
                records.append(record)
                record = []
                field = ""
            } else {
                field.unicodeScalars.append(scalar)
            }
        }
        return records
    }

    @Test func headerRowsAndTotal() {
        let s = Samples.statement()
        let csv = StatementCSV.render(s)
        #expect(csv.hasSuffix("\r\n"))
        // Every line break is CRLF (a bare LF would be a line break inside a field).
        #expect(!csv.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        let records = Self.parse(csv)
        #expect(
            records[0].joined(separator: ",")
                == "period,group_by,group,requests,errors,unpriced_requests,input_tokens,output_tokens,"
                + "cached_input_tokens,cache_write_input_tokens,cost_usd,share_percent,previous_cost_usd")
        #expect(records.count == s.groups.count + 2)
        #expect(records.allSatisfy { $0.count == 13 })
        #expect(
            records[1] == [
                "2026-11", "project", "web", "10000", "200", "103", "4000000", "600000", "1000000", "400000",
                "812.34567", StatementFigures.share(s.groups[0].metrics.cost, of: s.totals.cost), "700",
            ])
        #expect(records.last?[2] == "Total")
        #expect(records.last?[11] == "100.0")
        #expect(records[3][10] == "45.678912345", "amounts are exact, not rounded like the documents")
    }

    @Test func rowsAddUpToTheTotalRow() {
        let s = Samples.statement(extraGroups: 40)
        let records = Self.parse(StatementCSV.render(s))
        let body = records.dropFirst().dropLast()
        let total = records.last!
        for column in 3...9 {
            let sum = body.reduce(Int64(0)) { $0 + Int64($1[column])! }
            #expect(sum == Int64(total[column]), "column \(records[0][column])")
        }
        for column in [10, 12] {
            let sum = body.reduce(USD.zero) { $0 + USD(decimal: $1[column])! }
            #expect(sum == USD(decimal: total[column]), "column \(records[0][column])")
        }
    }

    @Test func hostileCellsAreQuotedAndNeutralised() {
        let names = ["=SUM(A1:A9)", "a,b", "say \"hi\"", "two\nlines", "\tTab", "+1", "@cmd", "-2+3", "\u{0}=x"]
        var s = Samples.statement()
        s.groups = names.map { StatementGroup(key: $0, name: $0, metrics: UsageMetrics(), previousCost: .zero) }
        s.groupBy = "=team"
        let csv = StatementCSV.render(s)
        let records = Self.parse(csv)
        let cells = records.dropFirst().dropLast().map { $0[2] }
        #expect(cells == ["'=SUM(A1:A9)", "a,b", "say \"hi\"", "two\nlines", "'\tTab", "'+1", "'@cmd", "'-2+3", "'=x"])
        #expect(records[1][1] == "'=team")
        #expect(csv.contains("\"say \"\"hi\"\"\""))
        #expect(!csv.contains("\u{0}"))
    }

    @Test func negativeAmountsStayNumbers() {
        var s = Samples.statement()
        s.groups[4].metrics.cost = USD(nanos: -123_000)
        let records = Self.parse(StatementCSV.render(s))
        #expect(records[5][10] == "-0.000123")
    }
}
