/// Parses the supported pattern syntax into a `RegexNode`, refusing what a linear-time engine cannot honour
/// (backreferences, lookaround, atomic groups, possessive quantifiers) with a message that names the problem and its
/// position (counted in Unicode scalars from 0).
struct RegexParser {
    // Not private: the escape and bracket parsing in RegexParser+Escapes.swift reads them too.
    let scalars: [Unicode.Scalar]
    var position = 0

    static func parse(_ pattern: String) throws(RegexProblem) -> (node: RegexNode, caseInsensitive: Bool) {
        var parser = RegexParser(scalars: Array(pattern.unicodeScalars))
        let caseInsensitive = parser.scalars.starts(with: "(?i)".unicodeScalars)
        if caseInsensitive { parser.position = 4 }
        let node = try parser.alternation()
        if parser.position < parser.scalars.count {
            throw RegexProblem("unbalanced parenthesis at \(parser.position)")
        }
        return (node, caseInsensitive)
    }

    private init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var next: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    func peek(_ ahead: Int) -> Unicode.Scalar? {
        position + ahead < scalars.count ? scalars[position + ahead] : nil
    }

    private mutating func alternation() throws(RegexProblem) -> RegexNode {
        var branches = [try concatenation()]
        while next == "|" {
            position += 1
            branches.append(try concatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func concatenation() throws(RegexProblem) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = next, scalar != "|", scalar != ")" {
            items.append(try quantified())
        }
        return items.count == 1 ? items[0] : .concatenation(items)
    }

    private mutating func quantified() throws(RegexProblem) -> RegexNode {
        let atomStart = position
        let atom = try self.atom()
        guard let (min, max) = try quantifier() else { return atom }
        if case .assertion = atom { throw RegexProblem("nothing to repeat at \(atomStart): an anchor cannot repeat") }
        if next == "?" {
            position += 1  // lazy: finds the same spans once matches are merged, so it is read as greedy
        } else if next == "+" {
            throw RegexProblem("possessive quantifiers (like a*+) are not supported, at \(position)")
        }
        if try peekQuantifier() {
            throw RegexProblem("a quantifier cannot follow another quantifier, at \(position)")
        }
        return .repetition(atom, min: min, max: max)
    }

    /// Whether a quantifier starts here (without consuming it).
    private mutating func peekQuantifier() throws(RegexProblem) -> Bool {
        let saved = position
        defer { position = saved }
        return try quantifier() != nil
    }

    /// Reads `*`, `+`, `?`, `{m}`, `{m,}` or `{m,n}`; a `{` that does not begin a count is a literal (as in PCRE).
    private mutating func quantifier() throws(RegexProblem) -> (Int, Int?)? {
        switch next {
        case "*":
            position += 1
            return (0, nil)
        case "+":
            position += 1
            return (1, nil)
        case "?":
            position += 1
            return (0, 1)
        case "{":
            guard let digit = peek(1), ("0"..."9").contains(digit) else { return nil }
            return try countedQuantifier()
        default:
            return nil
        }
    }

    private mutating func countedQuantifier() throws(RegexProblem) -> (Int, Int?) {
        let start = position
        position += 1
        let min = try number(start: start)
        var max: Int? = min
        if next == "," {
            position += 1
            max = next == "}" ? nil : try number(start: start)
        }
        guard next == "}" else { throw RegexProblem("malformed repetition count at \(start)") }
        position += 1
        let limit = RegexLimits.repetition
        if min > limit || (max ?? 0) > limit {
            throw RegexProblem("the repetition count at \(start) is over \(limit)")
        }
        if let max, min > max { throw RegexProblem("the repetition {\(min),\(max)} at \(start) has min over max") }
        return (min, max)
    }

    private mutating func number(start: Int) throws(RegexProblem) -> Int {
        var value = 0
        var digits = 0
        while let scalar = next, ("0"..."9").contains(scalar) {
            value = value * 10 + Int(scalar.value - 0x30)
            digits += 1
            position += 1
            if digits > 6 { throw RegexProblem("the repetition count at \(start) is over \(RegexLimits.repetition)") }
        }
        guard digits > 0 else { throw RegexProblem("malformed repetition count at \(start)") }
        return value
    }

    private mutating func atom() throws(RegexProblem) -> RegexNode {
        let start = position
        let scalar = scalars[position]
        position += 1
        switch scalar {
        case "(": return try group(openedAt: start)
        case "[": return .set(try bracketSet(openedAt: start))
        case ".": return .anyExceptNewline
        case "^": return .assertion(.textStart)
        case "$": return .assertion(.textEnd)
        case "\\": return try escape(at: start)
        case "*", "+", "?": throw RegexProblem("nothing to repeat at \(start)")
        case "{":
            if let digit = next, ("0"..."9").contains(digit) { throw RegexProblem("nothing to repeat at \(start)") }
            return .scalar(scalar)
        default: return .scalar(scalar)
        }
    }

    private mutating func group(openedAt start: Int) throws(RegexProblem) -> RegexNode {
        if next == "?" {
            try groupModifier(at: start)
        }
        let inner = try alternation()
        guard next == ")" else { throw RegexProblem("unbalanced parenthesis at \(start)") }
        position += 1
        return inner
    }

    /// Accepts `(?:`; names every other `(?…` form the engine refuses.
    private mutating func groupModifier(at start: Int) throws(RegexProblem) {
        let second = peek(1)
        let third = peek(2)
        switch (second, third) {
        case (":", _):
            position += 2
        case ("=", _), ("!", _), ("<", "="), ("<", "!"):
            throw RegexProblem("lookaround (?=, (?!, (?<=, (?<!) is not supported, at \(start)")
        case (">", _):
            throw RegexProblem("atomic groups (?>…) are not supported, at \(start)")
        case ("i", ")"):
            throw RegexProblem("the (?i) flag is only supported at the very start of the pattern, at \(start)")
        case ("P", "="):
            throw RegexProblem("backreferences (?P=name) are not supported, at \(start)")
        default:
            throw RegexProblem("unsupported group syntax (? at \(start); use (?: ) for a group")
        }
    }
}
