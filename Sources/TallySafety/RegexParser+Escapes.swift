extension RegexParser {
    /// A backslash escape outside brackets (the backslash at `start` is already read).
    mutating func escape(at start: Int) throws(RegexProblem) -> RegexNode {
        guard let scalar = next else { throw RegexProblem("the pattern ends with a lone backslash") }
        switch scalar {
        case "b":
            position += 1
            return .assertion(.wordBoundary)
        case "B":
            position += 1
            return .assertion(.notWordBoundary)
        case "A":
            position += 1
            return .assertion(.textStart)
        case "z":
            position += 1
            return .assertion(.textEnd)
        default:
            switch try escapedItem(at: start) {
            case .scalar(let scalar): return .scalar(scalar)
            case .shorthand(let shorthand, let negated):
                return .set(ScalarSet(shorthands: [(shorthand, negated)]))
            }
        }
    }

    enum EscapedItem {
        case scalar(Unicode.Scalar)
        case shorthand(ScalarShorthand, negated: Bool)
    }

    /// An escape valid both inside and outside brackets: shorthands, control characters, hex code points and
    /// escaped punctuation. Letters and digits with no meaning are refused, so a typo is not silently a literal.
    mutating func escapedItem(at start: Int) throws(RegexProblem) -> EscapedItem {
        guard let scalar = next else { throw RegexProblem("the pattern ends with a lone backslash") }
        position += 1
        switch scalar {
        case "d": return .shorthand(.digit, negated: false)
        case "D": return .shorthand(.digit, negated: true)
        case "w": return .shorthand(.word, negated: false)
        case "W": return .shorthand(.word, negated: true)
        case "s": return .shorthand(.space, negated: false)
        case "S": return .shorthand(.space, negated: true)
        case "n": return .scalar("\n")
        case "t": return .scalar("\t")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "0": return .scalar("\0")
        case "x": return .scalar(try hexScalar(at: start))
        case "1"..."9":
            throw RegexProblem("backreferences (\\\(scalar)) are not supported, at \(start)")
        case "k":
            throw RegexProblem("backreferences (\\k) are not supported, at \(start)")
        default:
            if scalar.isASCII, ScalarShorthand.isWord(scalar) {
                throw RegexProblem("unknown escape \\\(scalar) at \(start)")
            }
            return .scalar(scalar)
        }
    }

    /// `\xHH` or `\x{H…}` (the `\x` already read).
    private mutating func hexScalar(at start: Int) throws(RegexProblem) -> Unicode.Scalar {
        let braced = next == "{"
        if braced { position += 1 }
        var value: UInt32 = 0
        var digits = 0
        while let scalar = next, let digit = Int(String(scalar), radix: 16), braced || digits < 2, digits < 8 {
            value = value * 16 + UInt32(digit)
            digits += 1
            position += 1
        }
        if braced {
            guard next == "}" else { throw RegexProblem("malformed \\x{…} escape at \(start)") }
            position += 1
        }
        guard digits > 0, braced || digits == 2, let scalar = Unicode.Scalar(value) else {
            throw RegexProblem("malformed \\x escape at \(start)")
        }
        return scalar
    }

    /// A bracketed class (the `[` at `start` already read).
    mutating func bracketSet(openedAt start: Int) throws(RegexProblem) -> ScalarSet {
        var set = ScalarSet()
        if next == "^" {
            set.negated = true
            position += 1
        }
        var first = true
        while true {
            guard let scalar = next else { throw RegexProblem("unterminated character class at \(start)") }
            if scalar == "]", !first {
                position += 1
                return set
            }
            if scalar == "[", peek(1) == ":" {
                throw RegexProblem("POSIX classes like [:alpha:] are not supported, at \(position); use \\d \\w \\s")
            }
            first = false
            let itemStart = position
            switch try bracketItem() {
            case .shorthand(let shorthand, let negated):
                set.shorthands.append((shorthand, negated))
            case .scalar(let lower):
                guard next == "-", let after = peek(1), after != "]" else {
                    set.ranges.append(lower.value...lower.value)
                    continue
                }
                position += 1
                guard case .scalar(let upper) = try bracketItem() else {
                    throw RegexProblem("invalid class range at \(itemStart)")
                }
                guard lower.value <= upper.value else { throw RegexProblem("invalid class range at \(itemStart)") }
                set.ranges.append(lower.value...upper.value)
            }
        }
    }

    private mutating func bracketItem() throws(RegexProblem) -> EscapedItem {
        let start = position
        let scalar = scalars[position]
        guard scalar == "\\" else {
            position += 1
            return .scalar(scalar)
        }
        position += 1
        if next == "b" { throw RegexProblem("\\b is not supported inside a class, at \(start)") }
        return try escapedItem(at: start)
    }
}
