/// Why a pattern was refused, in words an organization admin can act on.
public struct RegexProblem: Error, Sendable, Equatable {
    public var message: String

    public init(_ message: String) { self.message = message }
}

/// The limits that keep one pattern's cost bounded whatever an admin writes.
enum RegexLimits {
    static let patternLength = 1000
    static let instructions = 5000
    static let repetition = 1000
}
