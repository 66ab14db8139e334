import TallyAggregate
import TallyCore

/// Teams and their projects (issue 20), written once for both dialects. A project's team is the one row of
/// `team_projects` keyed by the project, so "at most one team" is the database's own rule, race-free.
extension SQLStore {
    public func teams(organizationID: String) async throws -> [Team] {
        let teams = try await database.query(
            statement([
                ("SELECT id, org_id, name, created_us, updated_us FROM teams WHERE org_id = ", .text(organizationID)),
                (" ORDER BY name, id", nil),
            ]))
        let members = try await database.query(
            statement([
                ("SELECT team_id, project_id FROM team_projects WHERE org_id = ", .text(organizationID)),
                (" ORDER BY project_id", nil),
            ]))
        var projects: [String: [String]] = [:]
        for r in members { projects[try r.text("team_id"), default: []].append(try r.text("project_id")) }
        return try teams.map { r in
            let id = try r.text("id")
            return Team(
                id: id, organizationID: try r.text("org_id"), name: try r.text("name"), projectIDs: projects[id] ?? [],
                createdAt: try r.instant("created_us"), updatedAt: try r.instant("updated_us"))
        }
    }

    public func team(organizationID: String, id: String) async throws -> Team? {
        try await teams(organizationID: organizationID).first { $0.id == id }
    }

    public func createTeam(_ team: Team, audit: AuditRecord) async throws {
        let insert = statement([
            ("INSERT INTO teams (id, org_id, name, created_us, updated_us) VALUES (", .text(team.id)),
            (", ", .text(team.organizationID)), (", ", .text(team.name)), (", ", .int(team.createdAt.microseconds)),
            (", ", .int(team.updatedAt.microseconds)), (")", nil),
        ])
        try await database.transaction(
            [SQLStep(insert)] + memberInserts(team) + [SQLStep(auditInsert(audit))],
            onConflict: .conflict(
                "a team named '\(team.name)' already exists, or one of its projects is already in another team"))
    }

    public func updateTeam(_ team: Team, audit: AuditRecord) async throws {
        let update = statement([
            ("UPDATE teams SET name = ", .text(team.name)), (", updated_us = ", .int(team.updatedAt.microseconds)),
            (" WHERE org_id = ", .text(team.organizationID)), (" AND id = ", .text(team.id)),
        ])
        let clear = statement([
            ("DELETE FROM team_projects WHERE org_id = ", .text(team.organizationID)),
            (" AND team_id = ", .text(team.id)),
        ])
        do {
            try await database.transaction(
                [SQLStep(update, expectedChanges: 1), SQLStep(clear)] + memberInserts(team)
                    + [SQLStep(auditInsert(audit))])
        } catch TallyError.conflict(let message) where message.hasPrefix("the data changed") {
            throw TallyError.notFound("team '\(team.id)'")
        } catch TallyError.conflict {
            throw TallyError.conflict(
                "a team named '\(team.name)' already exists, or one of its projects is already in another team")
        }
    }

    public func deleteTeam(organizationID: String, id: String, audit: AuditRecord) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM team_projects WHERE org_id = ", .text(organizationID)),
                        (" AND team_id = ", .text(id)),
                    ])),
                SQLStep(
                    statement([("DELETE FROM teams WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id))]
                    ),
                    expectedChanges: 1),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("team '\(id)'"))
    }

    private func memberInserts(_ team: Team) -> [SQLStep] {
        team.projectIDs.map { project in
            SQLStep(
                statement([
                    ("INSERT INTO team_projects (org_id, project_id, team_id) VALUES (", .text(team.organizationID)),
                    (", ", .text(project)), (", ", .text(team.id)), (")", nil),
                ]))
        }
    }

    /// The organization's teams and projects, for a query that groups or filters by team.
    func teamMap(organizationID: String) async throws -> TeamMap {
        TeamMap(
            teams: try await teams(organizationID: organizationID),
            projectIDs: try await projects(organizationID: organizationID).map(\.id))
    }

    /// The filters with `team` turned into the projects it stands for; unchanged when they name no team.
    func resolvingTeams(_ filters: DimensionFilters, organizationID: String) async throws -> DimensionFilters {
        guard filters[.team] != nil else { return filters }
        return try await teamMap(organizationID: organizationID).resolving(filters)
    }
}
