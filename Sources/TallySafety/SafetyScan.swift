/// Runs organization-defined safety filters over the texts of a request or a response.
public enum SafetyScan {
    /// Runs every rule that applies to `side` over `texts`, in order. Detector and keyword scans are linear and
    /// always complete; regex patterns share `budget`, and a pattern that runs out leaves `incomplete` set.
    ///
    /// Every rule runs even after a `block` matched, so the event records every flag; but once blocked, no text is
    /// rewritten and `rewritten` comes back empty (nothing is forwarded). Redactions compose: a later rule reads the
    /// text earlier rules rewrote. Overlapping matches of one rule merge into one placeholder; keywords become
    /// "[REDACTED:KEYWORD]", pattern matches "[REDACTED]", detector matches their `Detector.placeholder`.
    public static func judge(
        _ texts: [String], side: SafetyRule.Side, rules: [SafetyRule], budget: inout ScanBudget
    ) -> SafetyVerdict {
        var verdict = SafetyVerdict()
        var prepared = texts.map(PreparedText.init)
        for rule in rules where rule.applies(to: side) {
            for index in prepared.indices {
                let (hits, complete) = RuleMatcher.hits(of: rule, in: &prepared[index], budget: &budget)
                if !complete { verdict.incomplete = true }
                guard !hits.isEmpty else { continue }
                for hit in hits { verdict.record(hit.flag) }
                switch rule.action {
                case .block:
                    if verdict.blockedBy == nil { verdict.blockedBy = rule.name }
                case .redact:
                    guard verdict.blockedBy == nil else { continue }
                    let rewritten = Redaction.apply(hits, to: prepared[index].text)
                    prepared[index] = PreparedText(rewritten)
                    verdict.rewritten[index] = rewritten
                case .flag:
                    break
                }
            }
        }
        if verdict.blockedBy != nil { verdict.rewritten = [:] }
        return verdict
    }

    /// Content capture's "redacted" mode: every built-in detector, plus the given rules' keywords and patterns
    /// (whatever their action or side), replaced by placeholders before the text is stored. All matches are found on
    /// the original text and replaced in one pass. When the budget runs out, patterns that did not finish redact
    /// only what they found (`budget.exhausted` tells).
    public static func redactAll(_ text: String, rules: [SafetyRule], budget: inout ScanBudget) -> String {
        var prepared = PreparedText(text)
        let everyDetector = SafetyRule(name: "", detectors: Detector.allCases, action: .redact)
        var hits = RuleMatcher.hits(of: everyDetector, in: &prepared, budget: &budget).hits
        for rule in rules {
            hits += RuleMatcher.hits(of: rule, detectors: [], in: &prepared, budget: &budget).hits
        }
        return Redaction.apply(hits, to: text)
    }
}
