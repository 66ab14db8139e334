/// A parsed pattern.
indirect enum RegexNode {
    case scalar(Unicode.Scalar)
    case anyExceptNewline
    case set(ScalarSet)
    case assertion(RegexAssertion)
    case concatenation([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?)

    /// Whether the node can match without reading anything; a whole pattern that can is refused.
    var matchesEmpty: Bool {
        switch self {
        case .scalar, .anyExceptNewline, .set: false
        case .assertion: true
        case .concatenation(let nodes): nodes.allSatisfy(\.matchesEmpty)
        case .alternation(let nodes): nodes.contains(where: \.matchesEmpty)
        case .repetition(let node, let min, _): min == 0 || node.matchesEmpty
        }
    }
}

/// A zero-width test between two scalars.
enum RegexAssertion {
    case textStart, textEnd, wordBoundary, notWordBoundary
}

/// One of the `\d \w \s` shorthands.
enum ScalarShorthand {
    case digit, word, space

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        switch self {
        case .digit: scalar.value >= 0x30 && scalar.value <= 0x39
        case .word: ScalarShorthand.isWord(scalar)
        case .space: scalar.properties.isWhitespace
        }
    }

    /// Letters, digits and `_`, Unicode-wide (the same test `\b` uses).
    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let value = UInt8(scalar.value)
            return ASCII.isAlphanumeric(value) || value == 0x5F
        }
        return scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }
}

/// A bracketed class (or a shorthand outside brackets): ranges and shorthands, possibly negated.
struct ScalarSet {
    var ranges: [ClosedRange<UInt32>] = []
    var shorthands: [(ScalarShorthand, negated: Bool)] = []
    var negated = false

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        var inside = ranges.contains { $0.contains(scalar.value) }
        if !inside { inside = shorthands.contains { $0.0.contains(scalar) != $0.negated } }
        return inside != negated
    }
}
