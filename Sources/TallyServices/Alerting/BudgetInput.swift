import TallyCore

/// A budget as a request asks for it, field by field as the API names them, not yet checked (`BudgetService` checks
/// it). nil: not given (a create takes the default, a PATCH keeps the stored value).
public struct BudgetDraft: Sendable, Equatable {
    public var name: String?
    /// Dimension name → values, in the order given; projects by name.
    public var scope: [(dimension: String, values: [String])]?
    public var period: String?
    public var from: String?
    public var to: String?
    public var amount: String?
    public var thresholds: [Int]?
    public var ledger: String?
    public var channels: [String]?
    public var enabled: Bool?
    /// Guardrails (issue 19): stop gateway calls in scope once the period's spend reaches the amount.
    public var enforce: Bool?
    /// nil: not given; `.some(nil)`: unmute.
    public var mutedUntil: String??

    public init(
        name: String? = nil, scope: [(dimension: String, values: [String])]? = nil, period: String? = nil,
        from: String? = nil, to: String? = nil, amount: String? = nil, thresholds: [Int]? = nil, ledger: String? = nil,
        channels: [String]? = nil, enabled: Bool? = nil, enforce: Bool? = nil, mutedUntil: String?? = nil
    ) {
        self.name = name
        self.scope = scope
        self.period = period
        self.from = from
        self.to = to
        self.amount = amount
        self.thresholds = thresholds
        self.ledger = ledger
        self.channels = channels
        self.enabled = enabled
        self.enforce = enforce
        self.mutedUntil = mutedUntil
    }

    public static func == (a: BudgetDraft, b: BudgetDraft) -> Bool {
        a.name == b.name && a.scope?.map(\.dimension) == b.scope?.map(\.dimension)
            && a.scope?.map(\.values) == b.scope?.map(\.values) && a.period == b.period && a.from == b.from
            && a.to == b.to && a.amount == b.amount && a.thresholds == b.thresholds && a.ledger == b.ledger
            && a.channels == b.channels && a.enabled == b.enabled && a.enforce == b.enforce
            && a.mutedUntil == b.mutedUntil
    }

    public static let fields: Set<String> = [
        "name", "scope", "period", "from", "to", "amount_usd", "thresholds", "ledger", "channels", "enabled",
        "enforce", "muted_until",
    ]

    /// Reads a JSON body (`POST /api/v1/budgets`, `PATCH …/{id}`): each field of the wrong JSON type is a problem
    /// naming it, all of them at once.
    public init(json: JSONValue) throws {
        let fields = try JSONFields(json, allowed: Self.fields)
        var problems: [FieldProblem] = []
        func read<T>(_ name: String, _ body: () throws -> T?) -> T? {
            do { return try body() } catch TallyError.invalid(let found) {
                problems += found
            } catch { problems.append(FieldProblem(field: name, reason: "is not valid")) }
            return nil
        }
        self.init()
        name = read("name") { try fields.string("name") }
        period = read("period") { try fields.string("period") }
        from = read("from") { try fields.string("from") }
        to = read("to") { try fields.string("to") }
        enabled = read("enabled") { try fields.bool("enabled") }
        enforce = read("enforce") { try fields.bool("enforce") }
        ledger = read("ledger") { try fields.string("ledger") }
        switch fields.members["amount_usd"] {
        case nil, .null?: break
        case .string(let s)?: amount = s
        default:
            problems.append(FieldProblem(field: "amount_usd", reason: "must be a decimal string such as \"250.00\""))
        }
        switch fields.members["thresholds"] {
        case nil, .null?: break
        case .array(let items)?:
            var out: [Int] = []
            for item in items {
                guard case .number(let text) = item, let n = Int(text) else {
                    problems.append(FieldProblem(field: "thresholds", reason: "must be a list of whole percents"))
                    break
                }
                out.append(n)
            }
            if out.count == items.count { thresholds = out }
        default: problems.append(FieldProblem(field: "thresholds", reason: "must be a list of whole percents"))
        }
        switch fields.members["channels"] {
        case nil, .null?: break
        case let value?:
            if let list = Self.strings(value) {
                channels = list
            } else {
                problems.append(FieldProblem(field: "channels", reason: "must be a list of channel ids"))
            }
        }
        switch fields.members["scope"] {
        case nil, .null?: break
        case .object(let members)?:
            var out: [(dimension: String, values: [String])] = []
            for (key, value) in members {
                if case .string(let s) = value {
                    out.append((key, [s]))
                } else if let list = Self.strings(value) {
                    out.append((key, list))
                } else {
                    problems.append(
                        FieldProblem(field: "scope.\(key)", reason: "must be a string or a list of strings"))
                }
            }
            scope = out
        default: problems.append(FieldProblem(field: "scope", reason: "must be an object"))
        }
        switch fields.members["muted_until"] {
        case nil: break
        case .null?: mutedUntil = .some(nil)
        case .string(let s)?: mutedUntil = .some(s)
        default:
            problems.append(FieldProblem(field: "muted_until", reason: "must be an RFC 3339 date-time or null"))
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
    }

    static func strings(_ value: JSONValue) -> [String]? {
        guard case .array(let items) = value else { return nil }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { return nil }
            out.append(s)
        }
        return out
    }
}
