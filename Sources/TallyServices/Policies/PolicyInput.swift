import TallyCore

/// A policy as a request gives it (`POST /api/v1/policies`, `PATCH …/{id}`, the Policies page), field by field as the
/// API names them, not yet checked (`PolicyService` checks it). nil: not given (a create takes the default, a PATCH
/// keeps the stored value).
public struct PolicyDraft: Sendable, Equatable {
    public var name: String?
    /// Scope keys given (`project`, `token`, `user`, `feature`): a value sets it, nil (JSON null) removes it.
    public var scope: [String: String?]?
    public var mode: String?
    /// Rule keys given, their JSON values as sent (checked by `PolicyChecks`): null removes the rule.
    public var rules: [String: JSONValue]?
    public var channelIDs: [String]?

    public init(
        name: String? = nil, scope: [String: String?]? = nil, mode: String? = nil, rules: [String: JSONValue]? = nil,
        channelIDs: [String]? = nil
    ) {
        self.name = name
        self.scope = scope
        self.mode = mode
        self.rules = rules
        self.channelIDs = channelIDs
    }

    public static let fields: Set<String> = ["name", "scope", "mode", "rules", "channel_ids"]
    public static let scopeFields = ["project", "token", "user", "feature"]
    public static let ruleFields = [
        "models_allow", "models_deny", "max_output_tokens", "max_cost_per_request_usd", "requests_per_minute",
        "tokens_per_minute", "max_concurrent",
    ]

    /// Reads a JSON body: unknown fields (at every level) and fields of the wrong JSON type are problems naming them,
    /// all of them at once. The rules' values are checked by the service.
    public init(json: JSONValue) throws {
        let fields = try JSONFields(json, allowed: Self.fields)
        var problems: [FieldProblem] = []
        self.init()
        do { name = try fields.string("name") } catch TallyError.invalid(let found) { problems += found }
        do { mode = try fields.string("mode") } catch TallyError.invalid(let found) { problems += found }
        switch fields.members["scope"] {
        case nil, .null?: break
        case .object(let members)?:
            var out: [String: String?] = [:]
            for (key, value) in members {
                let field = "scope.\(key)"
                guard Self.scopeFields.contains(key) else {
                    problems.append(
                        FieldProblem(field: field, reason: "unknown field: use project, token, user or feature"))
                    continue
                }
                guard out[key] == nil else {
                    problems.append(FieldProblem(field: field, reason: "is given twice"))
                    continue
                }
                switch value {
                case .string(let s): out[key] = .some(s)
                case .null: out[key] = .some(nil)
                default: problems.append(FieldProblem(field: field, reason: "must be a string or null"))
                }
            }
            scope = out
        default: problems.append(FieldProblem(field: "scope", reason: "must be an object"))
        }
        switch fields.members["rules"] {
        case nil, .null?: break
        case .object(let members)?:
            var out: [String: JSONValue] = [:]
            for (key, value) in members {
                guard Self.ruleFields.contains(key) else {
                    problems.append(
                        FieldProblem(
                            field: "rules.\(key)",
                            reason: "unknown field: use " + Self.ruleFields.joined(separator: ", ")))
                    continue
                }
                guard out[key] == nil else {
                    problems.append(FieldProblem(field: "rules.\(key)", reason: "is given twice"))
                    continue
                }
                out[key] = value
            }
            rules = out
        default: problems.append(FieldProblem(field: "rules", reason: "must be an object"))
        }
        switch fields.members["channel_ids"] {
        case nil, .null?: break
        case .array(let items)?:
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    problems.append(FieldProblem(field: "channel_ids", reason: "must be a list of alert channel ids"))
                    break
                }
                out.append(s)
            }
            if out.count == items.count { channelIDs = out }
        default: problems.append(FieldProblem(field: "channel_ids", reason: "must be a list of alert channel ids"))
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
    }
}
