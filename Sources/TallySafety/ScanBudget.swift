/// A count of regex steps one scan may take, shared by every pattern run over one body. A step is one NFA
/// instruction visited: a thread advanced over one scalar, or followed through a split, jump or assertion.
public struct ScanBudget: Sendable {
    /// Steps left; never below 0.
    public var remaining: Int
    /// Whether some pattern wanted a step after `remaining` reached 0 (its scan stopped early).
    public var exhausted: Bool

    public init(steps: Int = 5_000_000) {
        remaining = max(0, steps)
        exhausted = false
    }

    /// Takes one step; false (and `exhausted` set) when none is left.
    mutating func take() -> Bool {
        guard remaining > 0 else {
            exhausted = true
            return false
        }
        remaining -= 1
        return true
    }
}

/// A text decoded once into scalars for the regex engine, with each scalar's UTF-8 offset so matches map back to
/// byte ranges (and from there to `String.Index`).
struct ScalarText {
    let scalars: [Unicode.Scalar]
    /// `byteOffsets[i]` is where scalar `i` begins; one extra entry holds the text's byte count.
    let byteOffsets: [Int]

    init(_ text: String) {
        var scalars: [Unicode.Scalar] = []
        var offsets: [Int] = []
        var offset = 0
        for scalar in text.unicodeScalars {
            scalars.append(scalar)
            offsets.append(offset)
            offset += UTF8.width(scalar)
        }
        offsets.append(offset)
        self.scalars = scalars
        self.byteOffsets = offsets
    }

    func byteRange(_ scalarRange: Range<Int>) -> Range<Int> {
        byteOffsets[scalarRange.lowerBound]..<byteOffsets[scalarRange.upperBound]
    }
}
