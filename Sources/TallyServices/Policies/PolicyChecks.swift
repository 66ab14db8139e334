import Foundation
import TallyCore

/// The rules for each field of a policy, each problem naming its field as the API names it (`rules.max_concurrent`).
package enum PolicyChecks {
    package static let nameLength = 1...100
    /// Scope values as events hold them (`user`, `feature`: 1-256 characters, no control characters).
    package static let scopeValueLength = 256
    package static let globLength = 1...200
    package static let maximumGlobs = 100
    package static let maximumOutputTokens = 10_000_000
    /// One call costing more than a million dollars is no limit at all; larger is a typo or an attack.
    package static let maximumCostPerRequest = USD(nanos: 1_000_000 * 1_000_000_000)
    package static let maximumRate = 1_000_000_000
    package static let maximumChannels = 50

    package static func name(_ raw: String) -> Result<String, FieldProblem> {
        if raw.unicodeScalars.contains(where: DisplayName.isRefused) {
            return .failure(
                FieldProblem(
                    field: "name",
                    reason: "must not contain control characters, line separators or bidirectional overrides"))
        }
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        guard nameLength.contains(trimmed.count) else {
            return .failure(FieldProblem(field: "name", reason: "must be 1-100 characters"))
        }
        return .success(trimmed)
    }

    package static func mode(_ raw: String) -> Result<PolicyMode, FieldProblem> {
        guard let mode = PolicyMode(rawValue: raw) else {
            return .failure(FieldProblem(field: "mode", reason: "must be enforce or monitor"))
        }
        return .success(mode)
    }

    /// A `user` or `feature` value: what an event may hold in that field.
    package static func text(_ raw: String, field: String) -> FieldProblem? {
        guard !raw.isEmpty, raw.count <= scopeValueLength, !raw.containsControlCharacters,
            !raw.unicodeScalars.contains(where: DisplayName.isRefused)
        else {
            return FieldProblem(
                field: field, reason: "must be 1-\(scopeValueLength) characters without control characters")
        }
        return nil
    }

    /// A token id has the form `tok_` and ASCII letters, digits and `_`: checked before any lookup, so a NUL byte or
    /// other junk never reaches a store.
    package static func isTokenID(_ id: String) -> Bool {
        id.hasPrefix("tok_") && id.utf8.count <= 64
            && id.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0)
                    || (0x61...0x7A).contains($0)
            }
    }

    /// Applies the rule keys given to `rules`: each value replaces the rule, null removes it.
    package static func apply(_ given: [String: JSONValue], to rules: inout PolicyRules) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        func take<T>(_ result: Result<T, FieldProblem>) -> T? {
            switch result {
            case .success(let value): return value
            case .failure(let problem):
                problems.append(problem)
                return nil
            }
        }
        for key in PolicyDraft.ruleFields {
            guard let value = given[key] else { continue }
            let field = "rules.\(key)"
            let isNull = value == .null
            switch key {
            case "models_allow": rules.modelsAllow = isNull ? nil : take(globs(value, field: field))
            case "models_deny": rules.modelsDeny = isNull ? nil : take(globs(value, field: field))
            case "max_output_tokens":
                rules.maxOutputTokens = isNull ? nil : take(count(value, field: field, max: maximumOutputTokens))
            case "max_cost_per_request_usd": rules.maxCostPerRequest = isNull ? nil : take(cost(value, field: field))
            case "requests_per_minute":
                rules.requestsPerMinute = isNull ? nil : take(count(value, field: field, max: maximumRate))
            case "tokens_per_minute":
                rules.tokensPerMinute = isNull ? nil : take(count(value, field: field, max: maximumRate))
            case "max_concurrent":
                rules.maxConcurrent = isNull ? nil : take(count(value, field: field, max: maximumRate))
            default: break
            }
        }
        return problems
    }

    /// 1-100 globs of 1-200 characters without control characters, duplicates dropped.
    package static func globs(_ value: JSONValue, field: String) -> Result<[String], FieldProblem> {
        let reason =
            "must be a list of 1-\(maximumGlobs) model patterns such as \"gpt-5.4-*\", each 1-200 characters "
            + "without control characters"
        guard case .array(let items) = value, (1...maximumGlobs).contains(items.count) else {
            return .failure(FieldProblem(field: field, reason: reason))
        }
        var out: [String] = []
        for item in items {
            guard case .string(let glob) = item, globLength.contains(glob.count), !glob.containsControlCharacters,
                !glob.unicodeScalars.contains(where: DisplayName.isRefused)
            else { return .failure(FieldProblem(field: field, reason: reason)) }
            if !out.contains(glob) { out.append(glob) }
        }
        return .success(out)
    }

    /// A whole number from 1 to `max` (a JSON number; a numeric string too, as forms send them).
    package static func count(_ value: JSONValue, field: String, max: Int) -> Result<Int, FieldProblem> {
        switch value {
        case .number(let text), .string(let text):
            if text.utf8.count <= 20, let n = Int(text), (1...max).contains(n) { return .success(n) }
        default: break
        }
        return .failure(FieldProblem(field: field, reason: "must be a whole number from 1 to \(max)"))
    }

    /// A decimal string (money is never a float) greater than 0 and at most 1,000,000.
    package static func cost(_ value: JSONValue, field: String) -> Result<USD, FieldProblem> {
        if case .string(let text) = value, text.utf8.count <= 32, let usd = USD(decimal: text), usd > .zero,
            usd <= maximumCostPerRequest
        {
            return .success(usd)
        }
        return .failure(
            FieldProblem(
                field: field, reason: "must be a decimal string greater than 0 and at most 1000000, such as \"0.50\""))
    }
}
