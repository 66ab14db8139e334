import Hummingbird
import TallyCore

/// Small JSON request bodies (prices, quotes): parsed strictly, every problem named by field.
package enum JSONBody {
    package static let maxBytes = 256 * 1024

    /// `emptyIsObject`: an absent body means `{}` (for routes whose every field is optional).
    package static func read(_ request: Request, emptyIsObject: Bool = false) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBytes)
        if emptyIsObject && buffer.readableBytes == 0 { return .object([]) }
        do {
            return try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw TallyError.invalid([FieldProblem(field: "body", reason: "malformed JSON at byte \(error.offset): \(error.reason)")])
        }
    }

    /// The members of a JSON object (TallyCore's `JSONFields`).
    package typealias Fields = JSONFields
}

/// Query parameters of routes without usage filters.
package struct QueryParameters {
    package var values: [String: String] = [:]

    package init(_ request: Request, allowed: Set<String>) throws {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else { throw APIError.badParameter(name, "is not a known parameter") }
            guard values[name] == nil else { throw APIError.badParameter(name, "is given more than once") }
            values[name] = String(value)
        }
    }

    package func instant(_ name: String) throws -> Instant? {
        guard let raw = values[name] else { return nil }
        if let d = CivilDate(parsing: raw) { return Instant(seconds: d.daysSinceEpoch * 86_400) }
        guard let i = Instant(rfc3339: raw) else {
            throw APIError.badParameter(name, "must be an RFC 3339 date-time or a date YYYY-MM-DD")
        }
        return i
    }

    package func date(_ name: String) throws -> CivilDate? {
        guard let raw = values[name] else { return nil }
        guard let d = CivilDate(parsing: raw) else { throw APIError.badParameter(name, "must be a date YYYY-MM-DD") }
        return d
    }

    package func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = values[name] else { return nil }
        guard let n = Int(raw), range.contains(n) else {
            throw APIError.badParameter(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    package func bool(_ name: String) throws -> Bool? {
        guard let raw = values[name] else { return nil }
        switch raw {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badParameter(name, "must be true or false")
        }
    }
}
