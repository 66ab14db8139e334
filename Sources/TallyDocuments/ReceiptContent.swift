import TallyCore

/// A receipt's words and figures, formatted once for its text and PDF forms.
struct ReceiptContent {
    var number: String
    var organization: String
    var project: String
    var issued: String
    var issuedDate: String
    /// Label and value pairs: the call, in the order a reader checks them.
    var facts: [(String, String)]
    static let lineColumns = ["Description", "Quantity", "Unit price", "Amount"]
    var lines: [[String]]
    /// nil when the event is unpriced.
    var total: String?
    var unpriced: String?
    /// "Price entry … (from …, list price)", then the modifiers in words.
    var notes: [String]

    init(_ r: Receipt) {
        let time = DocumentTime(zone: r.timeZone)
        number = DocumentText.clean(r.number)
        organization = DocumentText.clean(r.organizationName)
        project = DocumentText.clean(r.projectName)
        issued = time.dateTime(r.issuedAt)
        issuedDate = time.date(r.issuedAt)
        facts = [
            ("Issued", issued), ("Organization", organization), ("Project", project),
            ("Date and time", time.dateTime(r.at)), ("Provider", DocumentText.clean(r.provider)),
            ("Model", DocumentText.clean(r.model)),
        ]
        if let resolved = r.modelResolved { facts.append(("Resolved model", DocumentText.clean(resolved))) }
        facts += [
            ("Event ID", DocumentText.clean(r.eventID)), ("Feature", DocumentText.clean(r.feature)),
            ("User", DocumentText.clean(r.user)), ("Status", Self.status(r.status)),
        ]
        lines = r.lines.map { line in
            [
                DocumentText.clean(line.label), StatementFigures.count(line.quantity),
                Self.unitPrice(line.unitPrice, tokenClass: line.tokenClass), StatementFigures.money(line.amount),
            ]
        }
        total = r.total.map(StatementFigures.money)
        if r.total == nil {
            unpriced = "Unpriced: " + DocumentText.clean(r.unpricedReason, fallback: "no price entry covers this model")
        }
        notes = []
        if let entry = r.priceEntry {
            let source =
                switch entry.source {
                case "catalog": "list price"
                case "organization": "organization price"
                default: DocumentText.clean(entry.source)
                }
            notes.append("Price entry \(DocumentText.clean(entry.id)) (from \(entry.from), \(source))")
        }
        let modifiers = r.modifiers.map { DocumentText.clean($0) }
        if !modifiers.isEmpty { notes.append("Modifiers: " + modifiers.joined(separator: "; ")) }
    }

    /// "$2.50 / 1M tokens", "$0.01 / request": the cost engine's exact rate, printed like every other amount. A rate
    /// that is not a plain decimal is shown as written rather than dropped.
    static func unitPrice(_ rate: String, tokenClass: String) -> String {
        let unit = tokenClass == "request" ? "request" : "1M tokens"
        guard let amount = USD(decimal: rate) else { return "\(DocumentText.clean(rate)) USD / \(unit)" }
        return "\(StatementFigures.money(amount)) / \(unit)"
    }

    static func status(_ raw: String) -> String {
        switch raw {
        case "ok": "OK"
        case "error": "Error"
        default: DocumentText.clean(raw)
        }
    }
}
