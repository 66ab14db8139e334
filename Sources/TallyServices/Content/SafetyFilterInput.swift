import TallyCore
import TallySafety

/// A safety filter as `POST /api/v1/safety-filters` and `PATCH …/{id}` write it, checked field by field: every problem
/// is reported at once, each naming its field (`regex[1]`, `keywords[0]`).
public struct SafetyFilterInput: Sendable {
    public static let fields: Set<String> = ["name", "scope", "detectors", "keywords", "regex", "on", "action"]
    public static let maxKeywords = 200
    public static let maxPatterns = 20

    public var name: String?
    /// `{"project": "<name>"}`; nil: not given; `.some(nil)`: the whole organization.
    public var project: String??
    public var detectors: [String]?
    public var keywords: [String]?
    public var patterns: [String]?
    public var side: String?
    public var action: String?

    /// Reads the JSON object of a request. `problems` collects what is wrong.
    public init(_ members: [String: JSONValue], problems: inout [FieldProblem]) {
        func strings(_ field: String, max: Int, maxLength: Int) -> [String]? {
            guard let value = members[field] else { return nil }
            guard case .array(let items) = value else {
                problems.append(FieldProblem(field: field, reason: "must be a list of strings"))
                return nil
            }
            if items.count > max { problems.append(FieldProblem(field: field, reason: "holds at most \(max) entries")) }
            var out: [String] = []
            for (i, item) in items.prefix(max).enumerated() {
                guard case .string(let s) = item, !s.isEmpty, s.utf8.count <= maxLength,
                    !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
                else {
                    problems.append(
                        FieldProblem(
                            field: "\(field)[\(i)]",
                            reason: "must be a string of 1 to \(maxLength) bytes without control characters"))
                    continue
                }
                out.append(s)
            }
            return out
        }
        func text(_ field: String) -> String? {
            guard let value = members[field] else { return nil }
            guard case .string(let s) = value else {
                problems.append(FieldProblem(field: field, reason: "must be a string"))
                return nil
            }
            return s
        }
        name = text("name")
        if let name, let reason = Self.nameProblem(name) {
            problems.append(FieldProblem(field: "name", reason: reason))
        }
        switch members["scope"] {
        case nil: project = nil
        case .null?: project = .some(nil)
        case .object(let scope)?:
            var chosen: String?? = .some(nil)
            for (key, value) in scope {
                guard key == "project" else {
                    problems.append(FieldProblem(field: "scope.\(key)", reason: "is not a scope key; use project"))
                    continue
                }
                switch value {
                case .string(let p): chosen = .some(p)
                case .null: chosen = .some(nil)
                default: problems.append(FieldProblem(field: "scope.project", reason: "must be a project name"))
                }
            }
            project = chosen
        default: problems.append(FieldProblem(field: "scope", reason: "must be an object: {} or {\"project\": name}"))
        }
        detectors = strings("detectors", max: Detector.allCases.count, maxLength: 32)
        for (i, d) in (detectors ?? []).enumerated() where Detector(rawValue: d) == nil {
            problems.append(
                FieldProblem(
                    field: "detectors[\(i)]",
                    reason: "is not a detector; use \(Detector.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        keywords = strings("keywords", max: Self.maxKeywords, maxLength: 200)
        patterns = strings("regex", max: Self.maxPatterns, maxLength: 1000)
        for (i, p) in (patterns ?? []).enumerated() {
            do throws(RegexProblem) {
                _ = try BoundedRegex(p)
            } catch {
                problems.append(FieldProblem(field: "regex[\(i)]", reason: error.message))
            }
        }
        side = text("on")
        if let side, SafetyRule.Side(rawValue: side) == nil {
            problems.append(FieldProblem(field: "on", reason: "must be request, response or both"))
        }
        action = text("action")
        if let action, SafetyRule.Action(rawValue: action) == nil {
            problems.append(FieldProblem(field: "action", reason: "must be block, redact or flag"))
        }
    }

    /// A filter's name is part of the flags events record (`keyword:<name>`): 1–64 bytes, no comma or control character.
    public static func nameProblem(_ name: String) -> String? {
        let ok =
            (1...64).contains(name.utf8.count) && name.trimmingSpaces() == name
            && !name.unicodeScalars.contains {
                $0 == "," || $0.value < 0x20 || $0.value == 0x7F || DisplayName.isRefused($0)
            }
        return ok ? nil : "must be 1 to 64 bytes, without commas, control characters or surrounding spaces"
    }
}

extension SafetyFilter {
    /// The filter as the gateway runs it; nil when a stored pattern no longer compiles (never: they were checked).
    package var rule: SafetyRule? {
        guard let side = SafetyRule.Side(rawValue: side), let action = SafetyRule.Action(rawValue: action) else {
            return nil
        }
        var compiled: [BoundedRegex] = []
        for p in patterns {
            guard let regex = try? BoundedRegex(p) else { return nil }
            compiled.append(regex)
        }
        return SafetyRule(
            name: name, detectors: detectors.compactMap(Detector.init(rawValue:)), keywords: keywords,
            patterns: compiled, side: side, action: action)
    }
}
