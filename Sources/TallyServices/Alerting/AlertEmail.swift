import TallyCore

/// An alert as a mail: a plain-text part and an HTML part (multipart/alternative), each with the figures, a progress
/// bar, the period, the link to the usage explorer and the note that costs are estimates. Every value from the
/// organization's data (names, scope values) is escaped in the HTML part.
public enum AlertEmail {
    public static func subject(_ m: AlertMessage) -> String {
        // One line: the mailer refuses line breaks in a subject, and names cannot hold them (DisplayName).
        var s = m.type == "test" ? "[Tally] Test alert" : "[Tally] \(m.source)"
        if let threshold = m.figures.threshold, m.type != "test" { s += " passed \(threshold)%" }
        return s.unicodeScalars.contains { $0 == "\r" || $0 == "\n" } ? "[Tally] Alert" : s
    }

    public static func text(_ m: AlertMessage) -> String {
        var lines = [m.title, "", m.figures.summary, ""]
        for fact in m.facts { lines.append("\(fact.label): \(fact.value)") }
        if let percent = m.barPercent { lines += ["", AlertText.bar(percent)] }
        lines += [
            "", "Organization: \(m.organizationName)", "Open in the usage explorer: \(m.explorerURL)", "",
            AlertMessage.estimateNote,
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    public static func html(_ m: AlertMessage) -> String {
        let e = AlertText.html
        var out = "<!DOCTYPE html><html><body style=\"font-family:sans-serif;color:#1a1a1a\">"
        out += "<h2>\(e(m.title))</h2><p>\(e(m.figures.summary))</p>"
        out += "<table cellpadding=\"4\" style=\"border-collapse:collapse\">"
        for fact in m.facts {
            out += "<tr><th align=\"left\">\(e(fact.label))</th><td>\(e(fact.value))</td></tr>"
        }
        out += "</table>"
        if let percent = m.barPercent {
            let color = percent >= 100 ? "#c0392b" : percent >= 80 ? "#e67e22" : "#27ae60"
            out += "<table role=\"presentation\" width=\"300\" cellpadding=\"0\" cellspacing=\"0\" "
            out += "style=\"border:1px solid #999;margin:12px 0\" aria-label=\"\(percent)%\"><tr>"
            if percent > 0 { out += "<td width=\"\(percent)%\" style=\"background:\(color);height:14px\"></td>" }
            if percent < 100 { out += "<td width=\"\(100 - percent)%\" style=\"height:14px\"></td>" }
            out += "</tr></table><p>\(percent)%</p>"
        }
        out += "<p>Organization: \(e(m.organizationName))</p>"
        out += "<p><a href=\"\(e(m.explorerURL))\">Open in the usage explorer</a></p>"
        out += "<p style=\"color:#666;font-size:smaller\">\(e(AlertMessage.estimateNote))</p></body></html>"
        return out
    }
}
