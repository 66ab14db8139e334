/// Names and free text made safe to print: whatever a project, model or user is called, a document shows one line
/// of visible characters.
enum DocumentText {
    /// More characters than any column or line of a document can show; longer text is cut first, so a hostile
    /// 10,000-character name costs no more to measure and truncate than a long one.
    static let maximumLength = 400

    /// `text` on one line: C0 and C1 control characters (NUL included) and DEL removed, tabs and line breaks turned
    /// into spaces, bidirectional embeddings, overrides and isolates removed (they could reverse the columns that
    /// follow a name in a plain-text statement), spaces at the ends trimmed. `fallback` when nothing is left.
    static func clean(_ text: String, fallback: String = "—") -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        var kept = 0
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029:
                pendingSpace = !out.isEmpty
                continue
            case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069:
                continue
            default:
                break
            }
            if pendingSpace, scalar != " " { out.append(" ") }
            pendingSpace = false
            out.append(scalar)
            kept += 1
            if kept >= maximumLength * 2 { break }
        }
        var result = String(out)
        if result.count > maximumLength { result = String(result.prefix(maximumLength)) + "…" }
        while result.last?.isWhitespace == true { result.removeLast() }
        while result.first?.isWhitespace == true { result.removeFirst() }
        return result.isEmpty ? fallback : result
    }

    /// `clean(text)` or the fallback for nil.
    static func clean(_ text: String?, fallback: String = "—") -> String {
        text.map { clean($0, fallback: fallback) } ?? fallback
    }

    /// How many columns of a monospaced terminal or mail client `text` takes: 2 for East Asian wide characters and
    /// emoji, 0 for combining marks and invisible joiners, 1 otherwise. An approximation (no grapheme rules), close
    /// enough to keep the plain-text columns aligned.
    static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + width(of: $1) }
    }

    /// `text` cut to `columns` display columns, ending in "…" when anything was cut.
    static func truncated(_ text: String, columns: Int) -> String {
        guard displayWidth(text) > columns else { return text }
        var kept = ""
        var used = 0
        for character in text {
            let w = displayWidth(String(character))
            if used + w > columns - 1 { break }
            kept.append(character)
            used += w
        }
        while kept.last?.isWhitespace == true { kept.removeLast() }
        return kept + "…"
    }

    private static func width(of scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        switch v {
        case 0x0300...0x036F, 0x200B...0x200F, 0x2060...0x2064, 0xFE00...0xFE0F, 0xFEFF, 0x1F3FB...0x1F3FF,
            0xE0000...0xE0FFF:
            return 0
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
            0x1F680...0x1F6FF, 0x1F900...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x3FFFD:
            return 2
        default:
            return scalar.properties.generalCategory == .nonspacingMark ? 0 : 1
        }
    }
}

/// A plain-text table: columns padded with spaces to the widest cell (by display width), two spaces apart, numbers
/// right-aligned. Cells of a column with a `limit` are truncated to it.
struct TextTable {
    struct Column {
        var title: String
        var rightAligned = false
        var limit: Int? = nil
    }

    var columns: [Column]
    var rows: [[String]] = []

    /// The lines, the header first and a rule under it; `ruleBeforeLast` also rules off a total row.
    func lines(ruleBeforeLast: Bool = false) -> [String] {
        let cells = ([columns.map(\.title)] + rows).map { row in
            zip(columns, row).map { column, cell in
                column.limit.map { DocumentText.truncated(cell, columns: $0) } ?? cell
            }
        }
        let widths = columns.indices.map { index in cells.map { DocumentText.displayWidth($0[index]) }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            var out = ""
            for (index, cell) in row.enumerated() {
                let gap = String(repeating: " ", count: widths[index] - DocumentText.displayWidth(cell))
                if index > 0 { out += "  " }
                out += columns[index].rightAligned ? gap + cell : cell + gap
            }
            while out.last == " " { out.removeLast() }
            return out
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var out = [line(cells[0]), rule]
        for (index, row) in cells.dropFirst().enumerated() {
            if ruleBeforeLast, index == cells.count - 2 { out.append(rule) }
            out.append(line(row))
        }
        return out
    }
}
