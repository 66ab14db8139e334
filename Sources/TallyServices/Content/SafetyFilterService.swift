import TallyCore

/// Safety filters (issue 21): checks what a request asks for, stores it with an audit record, and tells the gateway's
/// cache (`changed`) so a new filter holds on this replica at once; other replicas reload within a few seconds.
public struct SafetyFilterService<Store: SafetyFilterStore & ProjectStore>: Sendable {
    public let store: Store
    let changed: @Sendable (_ organizationID: String) -> Void

    public init(store: Store, changed: @escaping @Sendable (_ organizationID: String) -> Void = { _ in }) {
        self.store = store
        self.changed = changed
    }

    public func list(organizationID: String) async throws -> [SafetyFilter] {
        try await store.safetyFilters(organizationID: organizationID)
    }

    /// Another organization's filter is not found, as an unknown one.
    public func find(_ id: String, organizationID: String) async throws -> SafetyFilter {
        guard let filter = try await list(organizationID: organizationID).first(where: { $0.id == id }) else {
            throw TallyError.notFound("safety filter '\(id.prefix(64))'")
        }
        return filter
    }

    public func create(_ members: [String: JSONValue], organizationID: String, actor: String) async throws
        -> SafetyFilter
    {
        var problems: [FieldProblem] = []
        let input = SafetyFilterInput(members, problems: &problems)
        for field in ["name", "on", "action"] where members[field] == nil {
            problems.append(FieldProblem(field: field, reason: "is required"))
        }
        let projectID = try await resolve(input.project ?? nil, organizationID: organizationID, problems: &problems)
        let filter = SafetyFilter(
            id: Identifier.make("sf"), organizationID: organizationID, name: input.name ?? "", projectID: projectID,
            detectors: input.detectors ?? [], keywords: input.keywords ?? [], patterns: input.patterns ?? [],
            side: input.side ?? "", action: input.action ?? "", createdAt: .now, updatedAt: .now)
        try Self.requireSomethingToFind(filter, problems: &problems)
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        try await store.createSafetyFilter(
            filter,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "safety_filter.create",
                detail: Self.auditDetail(filter)))
        changed(organizationID)
        return filter
    }

    public func update(_ id: String, _ members: [String: JSONValue], organizationID: String, actor: String)
        async throws -> SafetyFilter
    {
        var filter = try await find(id, organizationID: organizationID)
        var problems: [FieldProblem] = []
        let input = SafetyFilterInput(members, problems: &problems)
        if let name = input.name { filter.name = name }
        if let project = input.project {
            filter.projectID = try await resolve(project, organizationID: organizationID, problems: &problems)
        }
        if let detectors = input.detectors { filter.detectors = detectors }
        if let keywords = input.keywords { filter.keywords = keywords }
        if let patterns = input.patterns { filter.patterns = patterns }
        if let side = input.side { filter.side = side }
        if let action = input.action { filter.action = action }
        filter.updatedAt = .now
        try Self.requireSomethingToFind(filter, problems: &problems)
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        try await store.updateSafetyFilter(
            filter,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "safety_filter.update",
                detail: Self.auditDetail(filter)))
        changed(organizationID)
        return filter
    }

    public func delete(_ id: String, organizationID: String, actor: String) async throws {
        try await store.deleteSafetyFilter(
            organizationID: organizationID, id: id,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "safety_filter.delete",
                detail: [("id", .string(id))]))
        changed(organizationID)
    }

    /// Project ids to names, for showing a scope as the API speaks it.
    public func projectNames(organizationID: String) async throws -> [String: String] {
        Dictionary(
            try await store.projects(organizationID: organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
    }

    func resolve(_ name: String?, organizationID: String, problems: inout [FieldProblem]) async throws -> String? {
        guard let name else { return nil }
        guard let project = try await store.project(organizationID: organizationID, name: name) else {
            problems.append(FieldProblem(field: "scope.project", reason: "is not a project of this organization"))
            return nil
        }
        return project.id
    }

    /// A filter with nothing to look for would match nothing: refused, so a typo does not leave a silent gap.
    static func requireSomethingToFind(_ f: SafetyFilter, problems: inout [FieldProblem]) throws {
        if f.detectors.isEmpty && f.keywords.isEmpty && f.patterns.isEmpty {
            problems.append(
                FieldProblem(field: "detectors", reason: "name at least one detector, keyword or regex to look for"))
        }
    }

    /// The audit keeps what the filter does, never its keywords or patterns (they may themselves be sensitive).
    static func auditDetail(_ f: SafetyFilter) -> [(String, JSONValue)] {
        [
            ("id", .string(f.id)), ("name", .string(f.name)), ("action", .string(f.action)), ("on", .string(f.side)),
            ("detectors", .string(f.detectors.joined(separator: ","))),
            ("keywords", .number("\(f.keywords.count)")), ("regex", .number("\(f.patterns.count)")),
        ]
    }
}
