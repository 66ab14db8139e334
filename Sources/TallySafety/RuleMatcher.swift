/// A text prepared once for every rule that reads it: bytes for the detectors, scalars for the regex engine and a
/// lowercased copy for keywords, the last two built only when some rule needs them.
struct PreparedText {
    let bytes: TextBytes
    private var scalarText: ScalarText?
    private var loweredText: LoweredText?

    init(_ text: String) { bytes = TextBytes(text) }

    var text: String { bytes.text }

    mutating func scalars() -> ScalarText {
        if let scalarText { return scalarText }
        let built = ScalarText(text)
        scalarText = built
        return built
    }

    mutating func lowered() -> LoweredText {
        if let loweredText { return loweredText }
        let built = LoweredText(scalars())
        loweredText = built
        return built
    }
}

/// One match of a rule: the flag it records, where it is (UTF-8 bytes) and what replaces it.
struct RuleHit {
    var flag: String
    var bytes: Range<Int>
    var placeholder: String
}

enum RuleMatcher {
    static let keywordPlaceholder = "[REDACTED:KEYWORD]"
    static let patternPlaceholder = "[REDACTED]"

    /// Every hit of `rule` in `text`, detectors first, then keywords, then patterns (the order flags are first seen
    /// in). `complete` is false when some pattern stopped for lack of budget.
    static func hits(
        of rule: SafetyRule, detectors: [Detector]? = nil, in text: inout PreparedText, budget: inout ScanBudget
    ) -> (hits: [RuleHit], complete: Bool) {
        var hits: [RuleHit] = []
        for detector in detectors ?? rule.detectors {
            for range in detector.byteMatches(in: text.bytes) {
                hits.append(RuleHit(flag: detector.flag, bytes: range, placeholder: detector.placeholder))
            }
        }
        if !rule.keywords.isEmpty {
            let scalars = text.scalars()
            let lowered = text.lowered()
            for keyword in rule.keywords {
                for range in KeywordSearch.matches(of: keyword, in: lowered) {
                    let bytes = scalars.byteRange(range)
                    hits.append(RuleHit(flag: rule.keywordFlag, bytes: bytes, placeholder: keywordPlaceholder))
                }
            }
        }
        var complete = true
        for pattern in rule.patterns {
            let scalars = text.scalars()
            let result = pattern.byteMatches(in: scalars, budget: &budget)
            complete = complete && result.complete
            for range in result.matches {
                hits.append(RuleHit(flag: rule.patternFlag, bytes: range, placeholder: patternPlaceholder))
            }
        }
        return (hits, complete)
    }
}
