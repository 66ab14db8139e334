import Crypto
import TallyCore
import TallyDocuments
import TallyPrice

/// Receipts for one call (issue 20): the stored event and the breakdown of its price entry (the one it was priced
/// with, not today's), in the words a receipt uses.
public enum Receipts {
    public static func receipt(
        _ stored: StoredEvent, breakdown: CostBreakdown?, organization: Organization, now: Instant = .now
    ) -> Receipt {
        let e = stored.event
        let entry = breakdown.map { b in
            ReceiptPriceEntry(
                id: b.entry.id, from: b.entry.from,
                source: b.entry.origin == .builtIn ? "catalog" : "organization")
        }
        let lines = (breakdown?.lines ?? []).map { line in
            ReceiptLine(
                tokenClass: line.tokenClass, label: label(line.tokenClass), quantity: line.tokens, unitPrice: line.rate,
                amount: line.cost)
        }
        let unpricedReason: String? =
            if stored.cost != nil { nil } else if let problem = breakdown?.problem {
                "\(problem.field) \(problem.reason)"
            } else {
                "no price entry covers \(e.provider) \(e.model) on this date"
            }
        return Receipt(
            number: number(stored), organizationName: organization.name, projectName: stored.projectName,
            eventID: e.id, at: e.timestamp, timeZone: organization.timeZone, provider: e.provider, model: e.model,
            modelResolved: breakdown?.modelResolved, feature: e.attribution.feature, user: e.attribution.user,
            status: e.outcome.status.rawValue, lines: stored.cost == nil ? [] : lines,
            modifiers: breakdown?.modifiers ?? [], priceEntry: entry, total: stored.cost,
            unpricedReason: unpricedReason, issuedAt: now)
    }

    /// `R-` and 12 base-32 characters of a hash of the organization, project and event id: the same event always
    /// gets the same number, and the number says nothing of the event.
    static func number(_ stored: StoredEvent) -> String {
        let digest = SHA256.hash(
            data: Array("\(stored.organizationID)\u{0}\(stored.projectID)\u{0}\(stored.event.id)".utf8))
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        var out = "R-"
        for i in 0..<12 {
            out.append(alphabet[Int((value >> UInt64(60 - 5 * i)) & 31)])
            if i == 3 || i == 7 { out.append("-") }
        }
        return out
    }

    /// A cost line's class in words.
    public static func label(_ tokenClass: String) -> String {
        switch TokenClass(rawValue: tokenClass) {
        case .input: "Input tokens"
        case .cachedInput: "Cached input tokens"
        case .cacheWrite5m: "Cache writes (5 min)"
        case .cacheWrite1h: "Cache writes (1 hour)"
        case .output: "Output tokens"
        case .reasoning: "Reasoning tokens"
        case .inputAudio: "Input audio tokens"
        case .cachedInputAudio: "Cached input audio tokens"
        case .outputAudio: "Output audio tokens"
        case nil: tokenClass == "request" ? "Requests" : tokenClass
        }
    }
}
