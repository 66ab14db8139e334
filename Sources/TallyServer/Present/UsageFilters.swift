import Hummingbird
import TallyCore
import TallyHTTP

/// The usage filters shared by the event list, the export and the summary: one query parameter per dimension.
extension QueryParameters {
    static let filterNames: [String: UsageDimension] = Dictionary(
        uniqueKeysWithValues: UsageDimension.allCases.map { ($0.rawValue, $0) })

    /// The route's own parameters and the usage filters; anything else is refused.
    static func usage(_ request: Request, allowed: Set<String>) throws -> QueryParameters {
        try QueryParameters(request, allowed: allowed.union(filterNames.keys))
    }

    /// Filters by name; project names become ids. A token without admin scope only sees its own project.
    /// `from`/`to` as the summary reads them: a bare date is the organization's local midnight, `to` is exclusive
    /// and defaults to now, `from` to 30 days before `to`; `from` must come first.
    func localRange(_ zone: TimeZoneRules, now: Instant) throws -> (from: Instant, to: Instant) {
        let to = try instant("to", bareDate: .localMidnight(zone)) ?? now
        let from = try instant("from", bareDate: .localMidnight(zone)) ?? to.adding(seconds: -30 * 86_400)
        guard from < to else { throw APIError.badParameter("from", "must be before 'to'") }
        return (from, to)
    }

    /// `localRange`, at most 10 years long (the summary, the performance report, the FOCUS export): a longer one is
    /// a 400 on `from`, not a scan of every hour since 1970.
    func boundedLocalRange(_ zone: TimeZoneRules, now: Instant) throws -> (from: Instant, to: Instant) {
        let (from, to) = try localRange(zone, now: now)
        guard to.microseconds - from.microseconds <= 3700 * 86_400 * 1_000_000 else {
            throw APIError.badParameter("from", "the range may span at most 10 years")
        }
        return (from, to)
    }

    func filters(store: some ProjectStore & TeamStore, principal: Principal) async throws -> DimensionFilters {
        var filters: DimensionFilters = [:]
        for (name, dimension) in Self.filterNames {
            guard let list = list(name) else { continue }
            guard !list.isEmpty else { throw APIError.badParameter(name, "must not be empty") }
            // No stored value holds one, and PostgreSQL refuses NUL: a 400 here, not a failed query.
            guard !list.contains(where: \.containsControlCharacters) else {
                throw APIError.badParameter(name, "must not contain control characters")
            }
            filters[dimension] = list
        }
        if let names = filters[.project] {
            var ids: [String] = []
            for name in names {
                if let project = try await store.project(organizationID: principal.organizationID, name: name) {
                    ids.append(project.id)
                }
            }
            filters[.project] = ids
        }
        if let names = filters[.team] {
            // Teams by name, `none` for usage of projects in no team; the store turns them into projects.
            let teams = try await store.teams(organizationID: principal.organizationID)
            filters[.team] = names.compactMap { name in
                name == Team.noTeam ? Team.noTeam : teams.first { $0.name == name }?.id
            }
        }
        if let scope = principal.projectScope {
            let allowed = filters[.project].map { $0.filter { scope.contains($0) } } ?? scope
            filters[.project] = allowed
        }
        return filters
    }
}
