/// One organization-defined filter, ready to run.
public struct SafetyRule: Sendable {
    /// Which texts a rule reads: the request's messages, the response's, or both.
    public enum Side: String, Sendable, Codable, CaseIterable { case request, response, both }
    /// What a match does: refuse the call, rewrite the matched text, or only record a flag.
    public enum Action: String, Sendable, Codable, CaseIterable { case block, redact, flag }

    public var name: String
    public var detectors: [Detector]
    /// Case-insensitive (Unicode lowercased both sides), whole-word at each end that is a letter or digit.
    public var keywords: [String]
    public var patterns: [BoundedRegex]
    public var side: Side
    public var action: Action

    public init(
        name: String, detectors: [Detector] = [], keywords: [String] = [], patterns: [BoundedRegex] = [],
        side: Side = .both, action: Action
    ) {
        self.name = name
        self.detectors = detectors
        self.keywords = keywords
        self.patterns = patterns
        self.side = side
        self.action = action
    }

    /// Whether the rule reads texts of `side`: a `.both` rule reads either side, and asking for `.both` runs every
    /// rule.
    public func applies(to side: Side) -> Bool {
        self.side == .both || side == .both || self.side == side
    }

    /// The flag a keyword match records.
    public var keywordFlag: String { "keyword:" + name }
    /// The flag a pattern match records.
    public var patternFlag: String { "regex:" + name }
}

/// What the filters decided about a list of texts (the message texts of one request, or of one response).
public struct SafetyVerdict: Sendable, Equatable {
    /// The first `block` rule that matched, by name (nil: forward).
    public var blockedBy: String?
    /// Every match's flag, once each, in first-seen order: detector flags ("pii.email", "secret"),
    /// "keyword:<rule name>", "regex:<rule name>". Flags from block, redact and flag rules alike.
    public var flags: [String]
    /// Texts rewritten by `redact` rules: index in the input array → the new text. Empty when nothing was redacted,
    /// and when the texts were blocked (nothing is forwarded then).
    public var rewritten: [Int: String]
    /// Whether the scan budget ran out before every pattern had read every text (the gateway records
    /// "safety.incomplete" and lets the call through).
    public var incomplete: Bool

    public init(
        blockedBy: String? = nil, flags: [String] = [], rewritten: [Int: String] = [:], incomplete: Bool = false
    ) {
        self.blockedBy = blockedBy
        self.flags = flags
        self.rewritten = rewritten
        self.incomplete = incomplete
    }

    mutating func record(_ flag: String) {
        if !flags.contains(flag) { flags.append(flag) }
    }
}
