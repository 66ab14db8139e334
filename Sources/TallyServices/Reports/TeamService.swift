import TallyCore

/// A request to create or change a team: what was given (nil: not given).
public struct TeamDraft: Sendable {
    public var name: String?
    /// Project names.
    public var projects: [String]?
    public init(name: String?, projects: [String]?) {
        self.name = name
        self.projects = projects
    }
}

extension TeamDraft {
    /// Reads `{"name", "projects": [...]}`: unknown fields and wrong JSON types are problems naming them, all at once.
    public init(json: JSONValue) throws {
        let fields = try JSONFields(json, allowed: ["name", "projects"])
        var problems: [FieldProblem] = []
        var name: String?
        do { name = try fields.string("name") } catch TallyError.invalid(let found) { problems += found }
        var projects: [String]?
        switch fields.members["projects"] {
        case nil, .null?: break
        case .array(let items)?:
            var names: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let text) = item else {
                    problems.append(FieldProblem(field: "projects[\(i)]", reason: "must be a project name (a string)"))
                    continue
                }
                names.append(text)
            }
            projects = names
        case let other?:
            problems.append(
                FieldProblem(field: "projects", reason: "must be a list of project names, not \(other.typeName)"))
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
        self.init(name: name, projects: projects)
    }
}

/// Teams for chargeback (issue 20): checks a request, keeps projects by id, stores it with an audit record.
public struct TeamService<Store: TeamStore & ProjectStore>: Sendable {
    public let store: Store
    public init(store: Store) { self.store = store }

    /// Most projects one team may list, and teams an organization may have: a statement's table stays readable.
    public static var maximumProjects: Int { 1000 }
    public static var maximumTeams: Int { 500 }

    public func list(organizationID: String) async throws -> [Team] {
        try await store.teams(organizationID: organizationID)
    }

    /// Another organization's team is not found, as an unknown one.
    public func find(_ id: String, organizationID: String) async throws -> Team {
        guard id.utf8.count <= 64, !id.containsControlCharacters,
            let team = try await store.team(organizationID: organizationID, id: id)
        else { throw TallyError.notFound("team '\(id.prefix(64))'") }
        return team
    }

    public func create(_ draft: TeamDraft, principal: Principal, now: Instant = .now) async throws -> Team {
        let teams = try await store.teams(organizationID: principal.organizationID)
        guard teams.count < Self.maximumTeams else {
            throw TallyError.conflict("an organization has at most \(Self.maximumTeams) teams; delete one first")
        }
        let team = try await checked(draft, over: nil, teams: teams, organizationID: principal.organizationID, now: now)
        try await store.createTeam(team, audit: audit(team, "team.create", principal, now))
        return team
    }

    /// Changes what is given: a new name, or the whole list of projects.
    public func update(_ id: String, _ draft: TeamDraft, principal: Principal, now: Instant = .now) async throws -> Team
    {
        let current = try await find(id, organizationID: principal.organizationID)
        let teams = try await store.teams(organizationID: principal.organizationID)
        let team = try await checked(
            draft, over: current, teams: teams, organizationID: principal.organizationID, now: now)
        try await store.updateTeam(team, audit: audit(team, "team.update", principal, now))
        return team
    }

    public func delete(_ id: String, principal: Principal, now: Instant = .now) async throws {
        let team = try await find(id, organizationID: principal.organizationID)
        try await store.deleteTeam(
            organizationID: principal.organizationID, id: id, audit: audit(team, "team.delete", principal, now))
    }

    /// Every problem at once, each naming its field; a project already in another team names that team.
    func checked(_ draft: TeamDraft, over current: Team?, teams: [Team], organizationID org: String, now: Instant)
        async throws -> Team
    {
        var problems: [FieldProblem] = []
        var team =
            current
            ?? Team(
                id: Identifier.make("team"), organizationID: org, name: "", projectIDs: [], createdAt: now,
                updatedAt: now)
        team.updatedAt = now
        if let raw = draft.name {
            switch PolicyChecks.name(raw) {
            case .success(let name) where name.lowercased() == Team.noTeam || name.lowercased() == "no team":
                problems.append(
                    FieldProblem(field: "name", reason: "'\(name)' is reserved: it names usage in no team"))
            case .success(let name) where name.contains(",") || name.utf8.count > 400:
                problems.append(
                    FieldProblem(
                        field: "name", reason: "must have no comma (team=a,b lists teams) and at most 400 bytes"))
            case .success(let name):
                if teams.contains(where: { $0.name == name && $0.id != team.id }) {
                    problems.append(FieldProblem(field: "name", reason: "a team named '\(name)' already exists"))
                }
                team.name = name
            case .failure(let problem): problems.append(problem)
            }
        } else if current == nil {
            problems.append(FieldProblem(field: "name", reason: "is required"))
        }
        if let names = draft.projects {
            if names.count > Self.maximumProjects {
                problems.append(FieldProblem(field: "projects", reason: "at most \(Self.maximumProjects) projects"))
            } else {
                let (ids, found) = try await projectIDs(names, team: team, teams: teams, organizationID: org)
                problems += found
                team.projectIDs = ids
            }
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
        return team
    }

    private func projectIDs(_ names: [String], team: Team, teams: [Team], organizationID org: String) async throws
        -> ([String], [FieldProblem])
    {
        let byName = Dictionary(
            try await store.projects(organizationID: org).map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        var owner: [String: String] = [:]
        for other in teams where other.id != team.id { for p in other.projectIDs { owner[p] = other.name } }
        var ids = Set<String>()
        var problems: [FieldProblem] = []
        for (i, name) in names.enumerated() {
            let field = "projects[\(i)]"
            guard let id = byName[name] else {
                problems.append(
                    FieldProblem(field: field, reason: "'\(name.prefix(64))' is not a project of this organization"))
                continue
            }
            if let other = owner[id] {
                problems.append(
                    FieldProblem(
                        field: field,
                        reason:
                            "'\(name.prefix(64))' is already in team '\(other)': a project belongs to at most one team"
                    ))
                continue
            }
            ids.insert(id)
        }
        return (ids.sorted(), problems)
    }

    private func audit(_ t: Team, _ action: String, _ principal: Principal, _ now: Instant) -> AuditRecord {
        .make(
            organizationID: t.organizationID, actor: principal.actor, action: action,
            detail: [
                ("id", .string(t.id)), ("name", .string(t.name)),
                ("projects", .array(t.projectIDs.map(JSONValue.string))),
            ], at: now)
    }
}
