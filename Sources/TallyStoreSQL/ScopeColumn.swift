import TallyCore

/// A `BudgetScope` (dimension → values) as the text a column holds: a JSON object of string arrays in dimension
/// order, `{"project":["prj_1"],"model":["gpt-4o","o3"]}`. Budgets and alerts store their scope this way.
enum ScopeColumn {
    static func text(_ scope: BudgetScope) -> String {
        var w = JSONWriter()
        w.beginObject()
        for dimension in scope.keys.sorted() {
            w.key(dimension.rawValue)
            w.beginArray()
            for value in scope[dimension] ?? [] { w.string(value) }
            w.endArray()
        }
        w.endObject()
        return w.text
    }

    /// nil when the text is not such an object (the row reader then names the column).
    static func scope(_ text: String) -> BudgetScope? {
        guard case .object(let members)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var scope: BudgetScope = [:]
        for (key, value) in members {
            guard let dimension = UsageDimension(rawValue: key), case .array(let items) = value else { return nil }
            var values: [String] = []
            for item in items {
                guard case .string(let s) = item else { return nil }
                values.append(s)
            }
            scope[dimension] = values
        }
        return scope
    }

    /// A JSON array of strings (a budget's channel ids).
    static func list(_ values: [String]) -> String {
        var w = JSONWriter()
        w.beginArray()
        for value in values { w.string(value) }
        w.endArray()
        return w.text
    }

    static func list(_ text: String) -> [String]? {
        guard case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var values: [String] = []
        for item in items {
            guard case .string(let s) = item else { return nil }
            values.append(s)
        }
        return values
    }
}
