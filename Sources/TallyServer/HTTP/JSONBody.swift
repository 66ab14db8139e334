import Hummingbird
import TallyCore

/// Small JSON request bodies (prices, quotes): parsed strictly, every problem named by field.
enum JSONBody {
    static let maxBytes = 256 * 1024

    /// `emptyIsObject`: an absent body means `{}` (for routes whose every field is optional).
    static func read(_ request: Request, emptyIsObject: Bool = false) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBytes)
        if emptyIsObject && buffer.readableBytes == 0 { return .object([]) }
        do {
            return try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw TallyError.invalid([FieldProblem(field: "body", reason: "malformed JSON at byte \(error.offset): \(error.reason)")])
        }
    }

    /// The members of a JSON object, with typed accessors that name the field on error.
    struct Fields {
        let members: [String: JSONValue]

        init(_ value: JSONValue, allowed: Set<String>) throws {
            guard case .object(let list) = value else {
                throw TallyError.invalid([FieldProblem(field: "body", reason: "must be a JSON object")])
            }
            let unknown = list.map(\.0).filter { !allowed.contains($0) }
            guard unknown.isEmpty else { throw TallyError.invalid(unknown.map { FieldProblem(field: $0, reason: "unknown field") }) }
            members = Dictionary(list, uniquingKeysWith: { a, _ in a })
        }

        func string(_ name: String) throws -> String? {
            switch members[name] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw TallyError.invalid([FieldProblem(field: name, reason: "must be a string")])
            }
        }

        func bool(_ name: String) throws -> Bool? {
            switch members[name] {
            case nil, .null?: return nil
            case .bool(let b)?: return b
            default: throw TallyError.invalid([FieldProblem(field: name, reason: "must be true or false")])
            }
        }

        /// A whole number; a numeric string is accepted too, as HTML forms send them.
        func integer(_ name: String) throws -> Int? {
            switch members[name] {
            case nil, .null?: return nil
            case .number(let text)?, .string(let text)?:
                if let n = Int(text) { return n }
            default: break
            }
            throw TallyError.invalid([FieldProblem(field: name, reason: "must be a whole number")])
        }

        /// An RFC 3339 instant or a `YYYY-MM-DD` date (its UTC midnight).
        func instant(_ name: String, required: Bool) throws -> Instant? {
            guard let raw = try string(name) else {
                if required { throw TallyError.invalid([FieldProblem(field: name, reason: "is required")]) }
                return nil
            }
            if let d = CivilDate(parsing: raw) { return Instant(seconds: d.daysSinceEpoch * 86_400) }
            guard let i = Instant(rfc3339: raw) else {
                throw TallyError.invalid([FieldProblem(field: name, reason: "must be an RFC 3339 date-time or a date YYYY-MM-DD")])
            }
            return i
        }
    }
}

/// Query parameters of routes without usage filters.
struct QueryParameters {
    var values: [String: String] = [:]

    init(_ request: Request, allowed: Set<String>) throws {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else { throw APIError.badParameter(name, "is not a known parameter") }
            guard values[name] == nil else { throw APIError.badParameter(name, "is given more than once") }
            values[name] = String(value)
        }
    }

    func instant(_ name: String) throws -> Instant? {
        guard let raw = values[name] else { return nil }
        if let d = CivilDate(parsing: raw) { return Instant(seconds: d.daysSinceEpoch * 86_400) }
        guard let i = Instant(rfc3339: raw) else {
            throw APIError.badParameter(name, "must be an RFC 3339 date-time or a date YYYY-MM-DD")
        }
        return i
    }

    func date(_ name: String) throws -> CivilDate? {
        guard let raw = values[name] else { return nil }
        guard let d = CivilDate(parsing: raw) else { throw APIError.badParameter(name, "must be a date YYYY-MM-DD") }
        return d
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = values[name] else { return nil }
        guard let n = Int(raw), range.contains(n) else {
            throw APIError.badParameter(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    func bool(_ name: String) throws -> Bool? {
        guard let raw = values[name] else { return nil }
        switch raw {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badParameter(name, "must be true or false")
        }
    }
}
