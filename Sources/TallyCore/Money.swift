/// An exact amount of US dollars, held as integer nano-dollars (10⁻⁹ USD).
///
/// Money never passes through floating point: it is parsed from and printed as a decimal string,
/// and sums are integer sums, so a total always equals the sum of its parts.
public struct USD: Hashable, Comparable, Sendable {
    public var nanos: Int64

    public init(nanos: Int64) { self.nanos = nanos }
    public static let zero = USD(nanos: 0)
    public static func + (a: USD, b: USD) -> USD { USD(nanos: a.nanos + b.nanos) }
    public static func - (a: USD, b: USD) -> USD { USD(nanos: a.nanos - b.nanos) }
    public static func += (a: inout USD, b: USD) { a.nanos += b.nanos }
    public static func < (a: USD, b: USD) -> Bool { a.nanos < b.nanos }

    /// `a + b`, or nil when the sum is beyond what nano-dollars in an Int64 can hold (about 9.2 billion USD).
    public func adding(_ other: USD) -> USD? {
        let (sum, overflow) = nanos.addingReportingOverflow(other.nanos)
        return overflow ? nil : USD(nanos: sum)
    }

    /// Parses a plain decimal string such as `"0.0125"` or `"12"`; at most 9 fractional digits.
    public init?(decimal text: some StringProtocol) {
        var s = Substring(text)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard parts.count == 1 || !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isASCIIDigit),
            whole.count <= 10, let w = Int64(whole)
        else { return nil }
        let f = Int64(fraction + String(repeating: "0", count: 9 - fraction.count)) ?? 0
        // Ten whole digits reach 9999999999 USD, past Int64 nano-dollars: such text is refused, never wrapped.
        let (scaled, overflow) = w.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, scaled <= Int64.max - f else { return nil }
        nanos = (scaled + f) * (negative ? -1 : 1)
    }

    /// The exact decimal string, without trailing zeros (`"0.0125"`, `"3"`).
    public var decimalString: String {
        let sign = nanos < 0 ? "-" : ""
        let magnitude = nanos.magnitude
        let whole = magnitude / 1_000_000_000
        var fraction = String(magnitude % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension USD {
    /// An exact decimal literal as providers write amounts (`0.4175`, `12`, `1.5e-3`; a JSON number's own text),
    /// divided by 10^`shift` (2 for an amount in cents), rounded half-up to the nano-dollar. nil when malformed.
    public init?(literal text: some StringProtocol, shift: Int = 0) {
        var s = Substring(text)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() } else if s.first == "+" { s = s.dropFirst() }
        var mantissa = s
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = s[..<e]
            guard let x = Int(s[s.index(after: e)...]), (-40...40).contains(x) else { return nil }
            exponent = x
        }
        let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        let digitText = String(whole) + String(fraction)
        guard !digitText.isEmpty, digitText.count <= 30, digitText.allSatisfy(\.isASCIIDigit),
            var value = Int128(digitText)
        else {
            return nil
        }
        // value × 10^power is the amount in nano-dollars.
        let power = exponent - fraction.count - shift + 9
        func tenTo(_ n: Int) -> Int128 { (0..<n).reduce(Int128(1)) { r, _ in r * 10 } }
        if power >= 0 {
            // 30 digits times 10^20 would pass Int128: checked, like every step here.
            guard power <= 20 else { return nil }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: tenTo(power))
            guard !overflow else { return nil }
            value = scaled
        } else {
            guard -power <= 38 else { return nil }
            let divisor = tenTo(-power)
            value = (value + divisor / 2) / divisor
        }
        guard value <= Int128(Int64.max) else { return nil }
        nanos = Int64(value) * (negative ? -1 : 1)
    }
}
