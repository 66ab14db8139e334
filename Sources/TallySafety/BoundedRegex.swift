/// A regular expression that runs in time linear in the text (a Thompson NFA simulated as a Pike VM over Unicode
/// scalars), never backtracking, so no pattern an organization writes can stall the gateway.
///
/// Matches are leftmost-first, like PCRE: the earliest starting match wins, and among matches starting there the one
/// the pattern prefers (left alternative first, greedy quantifiers longest). Lazy quantifiers (`*?`) are accepted
/// and read as greedy: a filter only needs the matched span, and the longer span redacts more.
public struct BoundedRegex: Sendable {
    public let pattern: String
    let program: RegexProgram

    public init(_ pattern: String) throws(RegexProblem) {
        guard !pattern.isEmpty else { throw RegexProblem("the pattern is empty") }
        guard pattern.unicodeScalars.count <= RegexLimits.patternLength else {
            throw RegexProblem("the pattern is longer than \(RegexLimits.patternLength) characters")
        }
        let (node, caseInsensitive) = try RegexParser.parse(pattern)
        if node.matchesEmpty {
            throw RegexProblem("the pattern can match the empty string, so it would match everywhere")
        }
        self.pattern = pattern
        self.program = try RegexProgram(node, caseInsensitive: caseInsensitive)
    }

    /// Every match in `text`, leftmost-first and not overlapping. When the budget runs out the matches found so far
    /// are returned and `budget.exhausted` is set.
    public func matches(in text: String, budget: inout ScanBudget) -> [Range<String.Index>] {
        let scalarText = ScalarText(text)
        return byteMatches(in: scalarText, budget: &budget).matches.map { text.utf8Range($0) }
    }

    /// Whether the pattern matches somewhere in `text` (a convenience for tests and previews).
    public func firstMatch(in text: String, budget: inout ScanBudget) -> Substring? {
        matches(in: text, budget: &budget).first.map { text[$0] }
    }

    /// The matches as UTF-8 byte ranges, and whether the scan read the whole text (false: the budget ran out).
    func byteMatches(in text: ScalarText, budget: inout ScanBudget) -> (matches: [Range<Int>], complete: Bool) {
        guard !text.scalars.isEmpty else { return ([], true) }
        guard budget.remaining > 0 else {
            budget.exhausted = true
            return ([], false)
        }
        var machine = PikeMachine(program: program, scalars: text.scalars)
        let matches = machine.allMatches(budget: &budget).map(text.byteRange)
        return (matches, !machine.outOfBudget)
    }
}
