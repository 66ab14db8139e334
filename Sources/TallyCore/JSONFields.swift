/// The members of a JSON object, with typed accessors that name the field on error.
public struct JSONFields: Sendable {
    public let members: [String: JSONValue]

    public init(_ value: JSONValue, allowed: Set<String>) throws {
        guard case .object(let list) = value else {
            throw TallyError.invalid([FieldProblem(field: "body", reason: "must be a JSON object")])
        }
        let unknown = list.map(\.0).filter { !allowed.contains($0) }
        guard unknown.isEmpty else {
            throw TallyError.invalid(unknown.map { FieldProblem(field: $0, reason: "unknown field") })
        }
        members = Dictionary(list, uniquingKeysWith: { a, _ in a })
    }

    public func string(_ name: String) throws -> String? {
        switch members[name] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw TallyError.invalid([FieldProblem(field: name, reason: "must be a string")])
        }
    }

    public func bool(_ name: String) throws -> Bool? {
        switch members[name] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw TallyError.invalid([FieldProblem(field: name, reason: "must be true or false")])
        }
    }

    /// A whole number; a numeric string is accepted too, as HTML forms send them.
    public func integer(_ name: String) throws -> Int? {
        switch members[name] {
        case nil, .null?: return nil
        case .number(let text)?, .string(let text)?:
            if let n = Int(text) { return n }
        default: break
        }
        throw TallyError.invalid([FieldProblem(field: name, reason: "must be a whole number")])
    }

    /// An RFC 3339 instant or a `YYYY-MM-DD` date (its UTC midnight).
    public func instant(_ name: String, required: Bool) throws -> Instant? {
        guard let raw = try string(name) else {
            if required { throw TallyError.invalid([FieldProblem(field: name, reason: "is required")]) }
            return nil
        }
        if let d = CivilDate(parsing: raw) { return Instant(seconds: d.daysSinceEpoch * 86_400) }
        guard let i = Instant(rfc3339: raw) else {
            throw TallyError.invalid([
                FieldProblem(field: name, reason: "must be an RFC 3339 date-time or a date YYYY-MM-DD")
            ])
        }
        return i
    }
}
