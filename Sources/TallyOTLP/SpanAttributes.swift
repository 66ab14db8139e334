import TallyCore

/// A span's (or resource's) attributes by key, the first of a repeated key kept, with the typed reads the mapping
/// needs. A value of the wrong type is a `SpanRejection` naming the attribute, never a silent default.
struct SpanAttributes {
    private var values: [String: AnyValue] = [:]

    init(_ attributes: [KeyValue]) {
        values.reserveCapacity(attributes.count)
        for kv in attributes where values[kv.key] == nil { values[kv.key] = kv.value }
    }

    func has(_ key: String) -> Bool { values[key]?.value != nil }

    /// The first of `keys` that is present (a value set), with its value.
    func first(_ keys: [String]) -> (key: String, value: AnyValue.OneOf_Value)? {
        for key in keys { if let v = values[key]?.value { return (key, v) } }
        return nil
    }

    /// A text attribute: a string (an integer is taken as its decimal text, as some SDKs send ids). Empty text is
    /// absent. Any other type is refused.
    func text(_ keys: String...) throws(SpanRejection) -> String? {
        guard let (key, value) = first(keys) else { return nil }
        switch value {
        case .stringValue(let s): return s.isEmpty ? nil : s
        case .intValue(let n): return String(n)
        default: throw SpanRejection("\(key) must be a string (got \(Self.describe(value)))")
        }
    }

    /// A boolean attribute, nil when absent or of another type (only hints are read this way).
    func bool(_ key: String) -> Bool? {
        if case .boolValue(let b)? = values[key]?.value { return b }
        return nil
    }

    /// A string or the first string of an array of strings (`gen_ai.response.finish_reasons`).
    func firstText(_ key: String) throws(SpanRejection) -> String? {
        switch values[key]?.value {
        case nil: return nil
        case .stringValue(let s)?: return s.isEmpty ? nil : s
        case .arrayValue(let array)?:
            guard let first = array.values.first?.value else { return nil }
            guard case .stringValue(let s) = first else {
                throw SpanRejection("\(key) must be an array of strings")
            }
            return s.isEmpty ? nil : s
        case let value?: throw SpanRejection("\(key) must be an array of strings (got \(Self.describe(value)))")
        }
    }

    /// A token count: an integer, an integral double or a decimal string, from 0 to `UsageLimits.maxCount`.
    /// Absent is nil; anything else (negative, fractional, NaN, too large, another type) refuses the span, naming the
    /// attribute.
    func count(_ keys: [String]) throws(SpanRejection) -> Int64? {
        guard let (key, value) = first(keys) else { return nil }
        let max = UsageLimits.maxCount
        let n: Int64? =
            switch value {
            case .intValue(let n): n
            case .doubleValue(let d): d.isFinite && d == d.rounded() && abs(d) <= Double(max) ? Int64(d) : nil
            case .stringValue(let s):
                s.utf8.count <= 19 && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? Int64(s) : nil
            default: nil
            }
        guard let n, (0...max).contains(n) else {
            throw SpanRejection(
                "\(key) must be a whole number from 0 to \(max) (got \(Self.describe(value)))")
        }
        return n
    }

    /// An integer attribute read leniently (an HTTP status): nil when absent, of another type or not integral.
    func integer(_ keys: String...) -> Int64? {
        switch first(keys)?.value {
        case .intValue(let n)?: return n
        case .doubleValue(let d)?: return d.isFinite && d == d.rounded() && abs(d) < 1e15 ? Int64(d) : nil
        case .stringValue(let s)?: return s.utf8.count <= 18 ? Int64(s) : nil
        default: return nil
        }
    }

    /// A finite double (an integer is taken as one), nil otherwise.
    func number(_ key: String) -> Double? {
        switch values[key]?.value {
        case .doubleValue(let d)?: return d.isFinite ? d : nil
        case .intValue(let n)?: return Double(n)
        default: return nil
        }
    }

    /// A value as a rejection message shows it: short, and never control characters.
    static func describe(_ value: AnyValue.OneOf_Value) -> String {
        switch value {
        case .stringValue(let s): "\"\(SpanMapping.printable(s, max: 32))\""
        case .intValue(let n): String(n)
        case .doubleValue(let d): d.isNaN ? "NaN" : String(d)
        case .boolValue(let b): String(b)
        case .arrayValue: "an array"
        case .kvlistValue: "a map"
        case .bytesValue: "bytes"
        case .stringValueStrindex: "a string index"
        }
    }
}

/// Why a span cannot become an event, as the response's message says it.
struct SpanRejection: Error, Equatable {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
