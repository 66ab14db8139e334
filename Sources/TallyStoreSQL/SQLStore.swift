import TallyAggregate
import TallyCore

public struct SQLRow: SQLRowReader, Sendable {
    public var values: [SQLValue]
    public init(_ values: [SQLValue]) { self.values = values }
    public func int(_ i: Int) -> Int64? {
        switch values[i] {
        case .int(let v): v
        case .text(let t): Int64(t)
        case .null: nil
        }
    }
    public func text(_ i: Int) -> String? {
        switch values[i] {
        case .text(let t): t
        case .int(let v): String(v)
        case .null: nil
        }
    }
}

/// What a database driver must do for `SQLStore`: run statements, bulk-insert events, migrate under a lock.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
    /// The number of rows changed. A unique-key violation throws `TallyError.conflict`.
    @discardableResult func execute(_ statement: SQLStatement) async throws -> Int
    /// Inserts every batch and its rollup increments in one transaction (see `EventStore.insert`).
    func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome]
    /// Runs the steps in order in ONE transaction. A step that changes another number of rows than it expects
    /// rolls everything back and throws `TallyError.conflict`.
    func transaction(_ steps: [SQLStep]) async throws
    /// Applies the pending migrations in one transaction, holding a lock other replicas wait on.
    func migrate(_ migrations: [Migration]) async throws
    func appliedMigrationVersions() async throws -> Set<Int>
}

/// One statement of a transaction, and the number of rows it must change (nil: any).
public struct SQLStep: Sendable {
    public var statement: SQLStatement
    public var expectedChanges: Int?
    public init(_ statement: SQLStatement, expectedChanges: Int? = nil) {
        self.statement = statement
        self.expectedChanges = expectedChanges
    }
}

/// The store: every query of every concern, for either dialect, over a `SQLDatabase`.
public struct SQLStore<Database: SQLDatabase>: TallyStore {
    public let database: Database
    public init(_ database: Database) { self.database = database }

    var dialect: SQLDialect { database.dialect }

    func statement(_ parts: [(String, SQLValue?)]) -> SQLStatement {
        var s = SQLStatement(dialect)
        for (text, value) in parts {
            s.append(text)
            if let value { s.bind(value) }
        }
        return s
    }

    // MARK: Schema

    public func migrate() async throws { try await database.migrate(Schema.migrations(dialect)) }

    public func isReady() async -> Bool {
        guard let applied = try? await database.appliedMigrationVersions() else { return false }
        return Schema.migrations(dialect).allSatisfy { applied.contains($0.version) }
    }

    public func pendingMigrations() async throws -> [String] {
        let applied = try await database.appliedMigrationVersions()
        return Schema.migrations(dialect).filter { !applied.contains($0.version) }.map(\.name)
    }

    // MARK: Organizations

    public static var defaultOrganizationID: String { "org_default" }

    public func defaultOrganization(timeZone: String) async throws -> Organization {
        let now = Instant.now
        try await database.execute(statement([
            ("INSERT INTO organizations (id, name, time_zone, created_us) VALUES (", .text(Self.defaultOrganizationID)),
            (", 'Default', ", .text(timeZone)), (", ", .int(now.microseconds)), (") ON CONFLICT (id) DO NOTHING", nil),
        ]))
        guard let org = try await organization(id: Self.defaultOrganizationID) else {
            throw TallyError.unavailable("the default organization could not be created")
        }
        return org
    }

    public func organization(id: String) async throws -> Organization? {
        let rows = try await database.query(statement([
            ("SELECT id, name, time_zone, created_us, billing_cycle_day FROM organizations WHERE id = ", .text(id)),
        ]))
        return rows.first.map {
            Organization(id: $0.text(0) ?? "", name: $0.text(1) ?? "", timeZone: $0.text(2) ?? "UTC",
                         createdAt: Instant(microseconds: $0.int(3) ?? 0), billingCycleDay: Int($0.int(4) ?? 1))
        }
    }

    // MARK: Projects

    public func createProject(organizationID: String, name: String) async throws -> Project {
        let project = Project(id: Identifier.make("prj"), organizationID: organizationID, name: name, createdAt: .now)
        do {
            try await database.execute(statement([
                ("INSERT INTO projects (id, org_id, name, created_us) VALUES (", .text(project.id)),
                (", ", .text(organizationID)), (", ", .text(name)), (", ", .int(project.createdAt.microseconds)), (")", nil),
            ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("a project named '\(name)' already exists")
        }
        return project
    }

    public func projects(organizationID: String) async throws -> [Project] {
        try await database.query(statement([
            ("SELECT id, org_id, name, created_us, archived_us FROM projects WHERE org_id = ", .text(organizationID)),
            (" ORDER BY name", nil),
        ])).map(Self.project)
    }

    public func project(organizationID: String, name: String) async throws -> Project? {
        try await database.query(statement([
            ("SELECT id, org_id, name, created_us, archived_us FROM projects WHERE org_id = ", .text(organizationID)),
            (" AND name = ", .text(name)),
        ])).first.map(Self.project)
    }

    public func project(organizationID: String, id: String) async throws -> Project? {
        try await database.query(statement([
            ("SELECT id, org_id, name, created_us, archived_us FROM projects WHERE org_id = ", .text(organizationID)),
            (" AND id = ", .text(id)),
        ])).first.map(Self.project)
    }

    public func updateProject(organizationID: String, id: String, name: String, archivedAt: Instant?) async throws {
        let changed: Int
        do {
            changed = try await database.execute(statement([
                ("UPDATE projects SET name = ", .text(name)), (", archived_us = ", archivedAt.map { .int($0.microseconds) } ?? .null),
                (" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("a project named '\(name)' already exists")
        }
        guard changed == 1 else { throw TallyError.notFound("project '\(id)'") }
    }

    static func project(_ r: SQLRow) -> Project {
        Project(id: r.text(0) ?? "", organizationID: r.text(1) ?? "", name: r.text(2) ?? "",
                createdAt: Instant(microseconds: r.int(3) ?? 0), archivedAt: r.int(4).map(Instant.init(microseconds:)))
    }

    // MARK: Tokens

    /// With the creator's current role in the token's organization (none: not a member any more), read on every use.
    static var tokenColumns: String { "SELECT t.id, t.org_id, t.project_id, p.name, t.name, t.scopes, t.hint, t.created_us, "
        + "t.last_used_us, t.revoked_us, t.expires_us, t.created_by, p.archived_us, m.role FROM api_tokens t "
        + "JOIN projects p ON p.id = t.project_id LEFT JOIN memberships m ON m.org_id = t.org_id AND m.user_id = t.created_by" }

    public func createToken(_ token: APIToken, secretHash: String) async throws {
        let scopes = token.scopes.sorted().map(\.rawValue).joined(separator: ",")
        try await database.execute(statement([
            ("INSERT INTO api_tokens (id, org_id, project_id, name, scopes, secret_hash, hint, created_us, expires_us, created_by) VALUES (",
             .text(token.id)),
            (", ", .text(token.organizationID)), (", ", .text(token.projectID)), (", ", token.name.map(SQLValue.text) ?? .null),
            (", ", .text(scopes)), (", ", .text(secretHash)), (", ", .text(token.hint)),
            (", ", .int(token.createdAt.microseconds)), (", ", token.expiresAt.map { .int($0.microseconds) } ?? .null),
            (", ", token.createdBy.map(SQLValue.text) ?? .null), (")", nil),
        ]))
    }

    public func tokens(organizationID: String) async throws -> [APIToken] {
        try await database.query(statement([
            (Self.tokenColumns + " WHERE t.org_id = ", .text(organizationID)), (" ORDER BY t.created_us, t.id", nil),
        ])).map(Self.token)
    }

    public func token(secretHash: String) async throws -> APIToken? {
        try await database.query(statement([(Self.tokenColumns + " WHERE t.secret_hash = ", .text(secretHash))])).first.map(Self.token)
    }

    public func revokeToken(organizationID: String, id: String, at: Instant) async throws {
        let changed = try await database.execute(statement([
            ("UPDATE api_tokens SET revoked_us = COALESCE(revoked_us, ", .int(at.microseconds)),
            (") WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
        ]))
        guard changed > 0 else { throw TallyError.notFound("token '\(id)'") }
    }

    public func recordTokenUse(id: String, at: Instant) async throws {
        try await database.execute(statement([
            ("UPDATE api_tokens SET last_used_us = ", .int(at.microseconds)), (" WHERE id = ", .text(id)),
        ]))
    }

    static func token(_ r: SQLRow) -> APIToken {
        APIToken(
            id: r.text(0) ?? "", organizationID: r.text(1) ?? "", projectID: r.text(2) ?? "", projectName: r.text(3) ?? "",
            name: r.text(4), scopes: Set((r.text(5) ?? "").split(separator: ",").compactMap { Scope(rawValue: String($0)) }),
            hint: r.text(6) ?? "", createdAt: Instant(microseconds: r.int(7) ?? 0),
            lastUsedAt: r.int(8).map(Instant.init(microseconds:)), revokedAt: r.int(9).map(Instant.init(microseconds:)),
            expiresAt: r.int(10).map(Instant.init(microseconds:)), createdBy: r.text(11),
            projectArchived: r.int(12) != nil, creator: tokenCreator(createdBy: r.text(11), role: r.text(13))
        )
    }

    /// `created_by` is a user id, or `token:…` for a token made by a CLI token (the CLI itself leaves it empty).
    static func tokenCreator(createdBy: String?, role: String?) -> TokenCreator {
        guard let createdBy, !createdBy.hasPrefix("token:") else { return .unattended }
        return role.flatMap(Role.init(rawValue:)).map(TokenCreator.member) ?? .departed
    }

    // MARK: Events

    public func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome] {
        try await database.insert(batches)
    }

    public func events(_ query: EventQuery) async throws -> EventPage {
        let rows = try await database.query(UsageSQL.eventPage(dialect, query))
        var decoded = rows.map(UsageSQL.decodeEvent)
        var next: EventCursor?
        if decoded.count > query.limit {
            decoded.removeLast()
            let last = decoded[decoded.count - 1]
            next = EventCursor(timestamp: last.event.event.timestamp, sequence: last.sequence)
        }
        return EventPage(events: decoded.map(\.event), next: next)
    }

    public func eventsStored(after sequence: Int64, organizationID: String, filters: DimensionFilters,
                             limit: Int) async throws -> [SequencedEvent] {
        try await database.query(UsageSQL.eventsStored(dialect, organizationID: organizationID, after: sequence,
                                                       filters: filters, limit: limit))
            .map { let d = UsageSQL.decodeEvent($0); return SequencedEvent(sequence: d.sequence, stored: d.event) }
    }

    public func latestSequence() async throws -> Int64 {
        try await database.query(SQLStatement(dialect, "SELECT MAX(seq) FROM usage_events")).first?.int(0) ?? 0
    }

    public func event(organizationID: String, id: String, projectIDs: [String]?) async throws -> StoredEvent? {
        try await database.query(UsageSQL.eventByID(dialect, organizationID: organizationID, id: id, projectIDs: projectIDs))
            .first.map { UsageSQL.decodeEvent($0).event }
    }

    public func summary(_ query: SummaryQuery) async throws -> SummaryResult {
        try await UsageSQL.summary(dialect, query) { try await database.query($0) }
    }
}

