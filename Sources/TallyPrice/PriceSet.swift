import TallyCore

extension TokenClass {
    /// The class whose rate applies when a price set names no rate of its own for this one.
    var fallback: TokenClass? {
        switch self {
        case .input, .output: nil
        case .cachedInput, .cacheWrite5m, .inputAudio: .input
        case .cacheWrite1h: .cacheWrite5m
        // A provider without a cached-audio rate of its own bills cached audio as a cache read.
        case .cachedInputAudio: .cachedInput
        case .reasoning, .outputAudio: .output
        }
    }
}

/// US dollars per million tokens, exact: nano-dollars per million tokens (so $0.02/M is 20,000,000).
public struct Rate: Hashable, Sendable {
    public var nanosPerMillion: Int64
    public init(nanosPerMillion: Int64) { self.nanosPerMillion = nanosPerMillion }
    public init?(decimal text: String) {
        guard let usd = USD(decimal: text), usd.nanos >= 0 else { return nil }
        nanosPerMillion = usd.nanos
    }
    public var decimalString: String { USD(nanos: nanosPerMillion).decimalString }
}

/// The rates of one price set, with the documented fallbacks (a cache read with no rate of its own is input).
public struct PriceSet: Hashable, Sendable {
    public var rates: [TokenClass: Rate]
    public init(_ rates: [TokenClass: Rate]) { self.rates = rates }

    public func rate(_ tokenClass: TokenClass) -> Rate {
        var c: TokenClass? = tokenClass
        while let current = c {
            if let r = rates[current] { return r }
            c = current.fallback
        }
        return Rate(nanosPerMillion: 0)
    }
}

/// A multiplier such as the batch discount (`0.5`), exact to nine decimals.
public struct Multiplier: Hashable, Sendable {
    /// The multiplier × 10⁹.
    public var nanos: Int64
    public static let one = Multiplier(nanos: 1_000_000_000)
    public init(nanos: Int64) { self.nanos = nanos }
    public init?(decimal text: String) {
        guard let v = USD(decimal: text), v.nanos >= 0 else { return nil }
        nanos = v.nanos
    }
    public var decimalString: String { USD(nanos: nanos).decimalString }
}
