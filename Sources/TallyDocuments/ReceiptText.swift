/// A receipt as plain text: the same facts, line items, total and notes as the PDF, for email and `?format=txt`.
public enum ReceiptText {
    public static func render(_ r: Receipt) -> String {
        let c = ReceiptContent(r)
        var out = ["Receipt \(c.number)", ""]
        let width = c.facts.map { $0.0.count }.max() ?? 0
        for (label, value) in c.facts {
            out.append(label + String(repeating: " ", count: width - label.count + 2) + value)
        }
        out.append("")
        if !c.lines.isEmpty || c.total != nil {
            var table = TextTable(
                columns: ReceiptContent.lineColumns.enumerated().map { index, title in
                    .init(title: title, rightAligned: index > 0, limit: index == 0 ? 40 : nil)
                })
            table.rows = c.lines
            if let total = c.total { table.rows.append(["Total", "", "", total]) }
            out += table.lines(ruleBeforeLast: c.total != nil)
            out.append("")
        }
        if let unpriced = c.unpriced { out += [unpriced, ""] }
        if !c.notes.isEmpty { out += c.notes + [""] }
        out.append(Receipt.disclaimer)
        return out.joined(separator: "\n") + "\n"
    }
}
