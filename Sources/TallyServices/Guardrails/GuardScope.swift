import TallyCore

/// Which calls a policy or a budget covers, and model globs: pure, so the rules are tested without a store.
enum GuardScope {
    /// Every field the scope sets must equal the call's (an empty scope covers the whole organization).
    static func covers(_ scope: PolicyScope, _ call: GuardedCall) -> Bool {
        (scope.projectID.map { $0 == call.projectID } ?? true)
            && (scope.tokenID.map { $0 == call.tokenID } ?? true)
            && (scope.user.map { $0 == call.user } ?? true)
            && (scope.feature.map { $0 == call.feature } ?? true)
    }

    /// Each dimension the budget names must hold one of its values, as the summary's filters do for the spend it
    /// counts (a call without the value, or a dimension with no values, is outside). `api_key` is the attribution
    /// gateway events carry (the token's name, else its id), or the token's id: budgets made before gateway events
    /// carried the name (issue 22) named tokens by id, and must keep holding those calls; a call's status is unknown before it is made, so `status` does not narrow.
    static func covers(_ scope: BudgetScope, _ call: GuardedCall) -> Bool {
        scope.allSatisfy { dimension, values in
            let value: String?
            switch dimension {
            case .project: value = call.projectID
            case .feature: value = call.feature
            case .user: value = call.user
            case .apiKey:
                if values.contains(call.tokenID) { return true }
                value = call.apiKey
            case .provider: value = call.provider
            case .model: value = call.model
            case .environment: value = call.environment
            case .source: value = EventSource.gateway.rawValue
            case .status: return true
            case .team, .operation: return false  // not in `Budget.scopeDimensions`
            }
            return value.map { values.contains($0) } ?? false
        }
    }

    /// A glob over the whole name, case-sensitive: `*` any run of characters (none included), `?` exactly one.
    static func glob(_ pattern: String, matches name: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let s = Array(name.unicodeScalars)
        // Iterative matching with one backtrack point (the last `*`): linear in practice, never exponential.
        var pi = 0
        var si = 0
        var star: Int?
        var starMatch = 0
        while si < s.count {
            if pi < p.count, p[pi] == "?" || (p[pi] != "*" && p[pi] == s[si]) {
                pi += 1
                si += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                starMatch = si
                pi += 1
            } else if let star {
                pi = star + 1
                starMatch += 1
                si = starMatch
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    static func anyGlob(_ patterns: [String], matches name: String) -> String? {
        patterns.first { glob($0, matches: name) }
    }
}
