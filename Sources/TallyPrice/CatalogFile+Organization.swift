import TallyCore

/// An organization's own entry as `POST /api/v1/prices` and `tally prices import` give it: the catalog's entry shape,
/// only its fields, every problem named by its field.
extension CatalogFile {
    public static let organizationEntryFields: Set<String> = [
        "provider", "model", "aliases", "from", "to", "prices", "batch", "batch_prices", "service_tiers",
        "service_tier_multipliers", "tiers", "per_request_usd", "note", "source",
    ]

    public static func parseOrganizationEntry(_ value: JSONValue, organizationID: String) throws -> PriceEntry {
        guard case .object(let members) = value else {
            throw TallyError.invalid([FieldProblem(field: "body", reason: "must be a price entry object")])
        }
        let unknown = members.map(\.0).filter { !organizationEntryFields.contains($0) }
        guard unknown.isEmpty else {
            throw TallyError.invalid(unknown.map { FieldProblem(field: $0, reason: "unknown field") })
        }
        do {
            return try CatalogFile.parseEntry(value, origin: .organization(organizationID), at: "entry")
        } catch let problem as CatalogFile.Problem {
            let text =
                problem.description.hasPrefix("entry.") ? String(problem.description.dropFirst(6)) : problem.description
            let field = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "body"
            let reason = text.split(separator: ":", maxSplits: 1).dropFirst().first.map { $0.trimmingSpaces } ?? text
            throw TallyError.invalid([FieldProblem(field: field, reason: reason)])
        }
    }
}
