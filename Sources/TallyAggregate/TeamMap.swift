import TallyCore

/// Answers queries that group or filter by team, which events do not carry: a team is a set of projects, so the
/// query is asked by project and each project's rows are folded into its team (`Team`). Pure: the store reads the
/// organization's teams and projects, this does the rest.
public struct TeamMap: Sendable, Equatable {
    /// Project id → team id, for the projects in a team.
    public var teamOfProject: [String: String]
    /// Every project of the organization, archived ones included: "no team" is those outside every team.
    public var projectIDs: [String]

    public init(teams: [Team], projectIDs: [String]) {
        var map: [String: String] = [:]
        for team in teams { for p in team.projectIDs { map[p] = team.id } }
        teamOfProject = map
        self.projectIDs = projectIDs
    }

    public static func involved(_ dimensions: [UsageDimension], _ filters: DimensionFilters) -> Bool {
        dimensions.contains(.team) || filters[.team] != nil
    }

    /// The filters with `team` replaced by the projects it stands for (team ids; `Team.noTeam` for projects in none),
    /// narrowed by any project filter already there.
    public func resolving(_ filters: DimensionFilters) -> DimensionFilters {
        guard let teams = filters[.team] else { return filters }
        var out = filters
        out[.team] = nil
        let wanted = Set(teams)
        var projects = projectIDs.filter { wanted.contains(teamOfProject[$0] ?? Team.noTeam) }
        if let already = filters[.project] {
            let allowed = Set(already)
            projects = projects.filter { allowed.contains($0) }
        }
        out[.project] = projects
        return out
    }

    /// The query the store can run: `team` grouped as `project`, filtered as its projects.
    public func resolving(_ query: SummaryQuery) -> SummaryQuery {
        var asked = query
        var dimensions: [UsageDimension] = []
        for d in query.dimensions {
            let column = d == .team ? UsageDimension.project : d
            if !dimensions.contains(column) { dimensions.append(column) }
        }
        asked.dimensions = dimensions
        asked.filters = resolving(query.filters)
        return asked
    }

    /// `result` (of `resolving(query)`) regrouped in the dimensions `query` asked for: each project's team in place
    /// of `team`, the project dropped unless it was asked for too.
    public func folding(_ result: SummaryResult, into query: SummaryQuery) throws(TallyError) -> SummaryResult {
        guard query.dimensions.contains(.team) else { return result }
        var acc = SummaryAccumulator(dimensions: query.dimensions, tagKeys: query.tagKeys)
        for group in result.groups {
            let project = group.values[.project] ?? nil
            let values =
                query.dimensions.map { d -> String? in
                    d == .team ? project.flatMap { teamOfProject[$0] } : (group.values[d] ?? nil)
                } + query.tagKeys.map { group.tags[$0] ?? nil }
            try acc.add(period: group.period, values: values, metrics: group.metrics)
        }
        return try acc.result()
    }
}
