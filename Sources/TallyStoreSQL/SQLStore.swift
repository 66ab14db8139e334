import TallyAggregate
import TallyCore

/// What a database driver must do for `SQLStore`, which is only what differs between databases: run statements
/// (mapping the driver's errors to `TallyError`), move bulk inserts, run transactions. What to write (deduplication,
/// rollup increments, the schema's migrations and their ledger) is planned by the store.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// The rows, with their column names.
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
    /// A read that may be answered a few seconds late (dashboard and summary reads): a PostgreSQL read replica
    /// answers it when one is configured and caught up (`TALLY_DATABASE_READ_URL`), else the primary.
    func queryMayLag(_ statement: SQLStatement) async throws -> [SQLRow]
    /// The number of rows changed. A unique-key violation throws `TallyError.conflict`.
    @discardableResult func execute(_ statement: SQLStatement) async throws -> Int
    /// Runs the write in ONE transaction: its check, its insert (rows whose key is stored already are skipped), then
    /// the inserts its `then` plans from the rows stored. Returns the positions of the rows stored, ascending.
    func bulkWrite(_ write: SQLBulkWrite) async throws -> [Int]
    /// Runs the steps in order in ONE transaction. A step that changes another number of rows than it expects
    /// rolls everything back and throws `TallyError.conflict`.
    func transaction(_ steps: [SQLStep]) async throws
    /// Runs ONE transaction whose statements are chosen one at a time, each from what the previous ones answered:
    /// `next` is given the outcomes so far (none at first) and answers the next statement, or to commit or to roll
    /// back, with the value to return. (The guard counters need it: a conditional upsert that changed no row ends the
    /// reservation with everything undone.) `next` must not block: it runs while the transaction holds its locks.
    func transaction<Value: Sendable>(
        deciding next: @escaping @Sendable (_ outcomes: [SQLOutcome]) throws -> SQLDecision<Value>
    ) async throws -> Value
}

extension SQLDatabase {
    public func queryMayLag(_ statement: SQLStatement) async throws -> [SQLRow] { try await query(statement) }
}

/// What one statement of `transaction(deciding:)` answered.
public struct SQLOutcome: Sendable {
    /// The rows an INSERT, UPDATE or DELETE changed (0 for a SELECT).
    public var changes: Int
    /// A SELECT's rows, or what a write's `RETURNING` returned.
    public var rows: [SQLRow]

    public init(changes: Int, rows: [SQLRow]) {
        self.changes = changes
        self.rows = rows
    }
}

/// What `transaction(deciding:)` does next.
public enum SQLDecision<Value: Sendable>: Sendable {
    case run(SQLStatement)
    case commit(Value)
    case rollback(Value)
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
    let knownPartitions = KnownPartitions()
    let rawEventsBoundary = RawEventsBoundary()
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

    // MARK: Organizations

    public static var defaultOrganizationID: String { "org_default" }

    public func defaultOrganization(timeZone: String) async throws -> Organization {
        let now = Instant.now
        try await database.execute(
            statement([
                (
                    "INSERT INTO organizations (id, name, time_zone, created_us) VALUES (",
                    .text(Self.defaultOrganizationID)
                ),
                (", 'Default', ", .text(timeZone)), (", ", .int(now.microseconds)),
                (") ON CONFLICT (id) DO NOTHING", nil),
            ]))
        guard let org = try await organization(id: Self.defaultOrganizationID) else {
            throw TallyError.unavailable("the default organization could not be created")
        }
        return org
    }

    public func organization(id: String) async throws -> Organization? {
        let rows = try await database.query(
            statement([
                ("SELECT id, name, time_zone, created_us, billing_cycle_day FROM organizations WHERE id = ", .text(id))
            ]))
        return try rows.first.map {
            Organization(
                id: try $0.text("id"), name: try $0.text("name"), timeZone: try $0.text("time_zone"),
                createdAt: try $0.instant("created_us"), billingCycleDay: Int(try $0.int("billing_cycle_day")))
        }
    }

    // MARK: Projects

    public func createProject(organizationID: String, name: String) async throws -> Project {
        let project = Project(id: Identifier.make("prj"), organizationID: organizationID, name: name, createdAt: .now)
        do {
            try await database.execute(
                statement([
                    ("INSERT INTO projects (id, org_id, name, created_us) VALUES (", .text(project.id)),
                    (", ", .text(organizationID)), (", ", .text(name)), (", ", .int(project.createdAt.microseconds)),
                    (")", nil),
                ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("a project named '\(name)' already exists")
        }
        return project
    }

    public func projects(organizationID: String) async throws -> [Project] {
        try await database.query(
            statement([
                (
                    "SELECT id, org_id, name, created_us, archived_us, content_capture, content_retention_days FROM projects "
                        + "WHERE org_id = ",
                    .text(organizationID)
                ),
                (" ORDER BY name", nil),
            ])
        ).map(Self.project)
    }

    public func project(organizationID: String, name: String) async throws -> Project? {
        try await database.query(
            statement([
                (
                    "SELECT id, org_id, name, created_us, archived_us, content_capture, content_retention_days FROM projects "
                        + "WHERE org_id = ",
                    .text(organizationID)
                ),
                (" AND name = ", .text(name)),
            ])
        ).first.map(Self.project)
    }

    public func project(organizationID: String, id: String) async throws -> Project? {
        try await database.query(
            statement([
                (
                    "SELECT id, org_id, name, created_us, archived_us, content_capture, content_retention_days FROM projects "
                        + "WHERE org_id = ",
                    .text(organizationID)
                ),
                (" AND id = ", .text(id)),
            ])
        ).first.map(Self.project)
    }

    public func updateProject(organizationID: String, id: String, name: String, archivedAt: Instant?) async throws {
        let changed: Int
        do {
            changed = try await database.execute(
                statement([
                    ("UPDATE projects SET name = ", .text(name)),
                    (", archived_us = ", archivedAt.map { .int($0.microseconds) } ?? .null),
                    (" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
                ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("a project named '\(name)' already exists")
        }
        guard changed == 1 else { throw TallyError.notFound("project '\(id)'") }
    }

    static func project(_ r: SQLRow) throws -> Project {
        var project = Project(
            id: try r.text("id"), organizationID: try r.text("org_id"), name: try r.text("name"),
            createdAt: try r.instant("created_us"), archivedAt: try r.optionalInstant("archived_us"))
        project.content = ContentSettings(
            capture: try r.raw("content_capture"), retentionDays: Int(try r.int("content_retention_days")))
        return project
    }

    // MARK: Tokens

    /// With the creator's current role in the token's organization (none: not a member any more), read on every use.
    static var tokenColumns: String {
        "SELECT t.id, t.org_id, t.project_id, p.name AS project_name, t.name, t.scopes, t.hint, "
            + "t.created_us, t.last_used_us, t.revoked_us, t.expires_us, t.created_by, p.archived_us AS project_archived_us, "
            + "m.role AS creator_role FROM api_tokens t "
            + "JOIN projects p ON p.id = t.project_id LEFT JOIN memberships m ON m.org_id = t.org_id AND m.user_id = t.created_by"
    }

    public func createToken(_ token: APIToken, secretHash: String) async throws {
        let scopes = token.scopes.sorted().map(\.rawValue).joined(separator: ",")
        try await database.execute(
            statement([
                (
                    "INSERT INTO api_tokens (id, org_id, project_id, name, scopes, secret_hash, hint, created_us, expires_us, created_by) VALUES (",
                    .text(token.id)
                ),
                (", ", .text(token.organizationID)), (", ", .text(token.projectID)),
                (", ", token.name.map(SQLValue.text) ?? .null),
                (", ", .text(scopes)), (", ", .text(secretHash)), (", ", .text(token.hint)),
                (", ", .int(token.createdAt.microseconds)),
                (", ", token.expiresAt.map { .int($0.microseconds) } ?? .null),
                (", ", token.createdBy.map(SQLValue.text) ?? .null), (")", nil),
            ]))
    }

    public func tokens(organizationID: String) async throws -> [APIToken] {
        try await database.query(
            statement([
                (Self.tokenColumns + " WHERE t.org_id = ", .text(organizationID)),
                (" ORDER BY t.created_us, t.id", nil),
            ])
        ).map(Self.token)
    }

    public func token(secretHash: String) async throws -> APIToken? {
        try await database.query(statement([(Self.tokenColumns + " WHERE t.secret_hash = ", .text(secretHash))])).first
            .map(Self.token)
    }

    public func revokeToken(organizationID: String, id: String, at: Instant) async throws {
        let changed = try await database.execute(
            statement([
                ("UPDATE api_tokens SET revoked_us = COALESCE(revoked_us, ", .int(at.microseconds)),
                (") WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            ]))
        guard changed > 0 else { throw TallyError.notFound("token '\(id)'") }
    }

    public func recordTokenUse(id: String, at: Instant) async throws {
        try await database.execute(
            statement([
                ("UPDATE api_tokens SET last_used_us = ", .int(at.microseconds)), (" WHERE id = ", .text(id)),
            ]))
    }

    static func token(_ r: SQLRow) throws -> APIToken {
        let createdBy = try r.optionalText("created_by")
        return APIToken(
            id: try r.text("id"), organizationID: try r.text("org_id"), projectID: try r.text("project_id"),
            projectName: try r.text("project_name"), name: try r.optionalText("name"),
            scopes: try r.parsed("scopes", as: "a list of scopes", Self.scopes), hint: try r.text("hint"),
            createdAt: try r.instant("created_us"), lastUsedAt: try r.optionalInstant("last_used_us"),
            revokedAt: try r.optionalInstant("revoked_us"), expiresAt: try r.optionalInstant("expires_us"),
            createdBy: createdBy,
            projectArchived: try r.optionalInt("project_archived_us") != nil,
            creator: tokenCreator(createdBy: createdBy, role: try r.optionalRaw("creator_role"))
        )
    }

    /// `ingest,read`: the scopes, comma-separated (none: empty); nil when one of them is no scope.
    static func scopes(_ text: String) -> Set<Scope>? {
        var scopes = Set<Scope>()
        for name in text.split(separator: ",") {
            guard let scope = Scope(rawValue: String(name)) else { return nil }
            scopes.insert(scope)
        }
        return scopes
    }

    /// `created_by` is a user id, or `token:…` for a token made by a CLI token (the CLI itself leaves it empty).
    static func tokenCreator(createdBy: String?, role: Role?) -> TokenCreator {
        guard let createdBy, !createdBy.hasPrefix("token:") else { return .unattended }
        return role.map(TokenCreator.member) ?? .departed
    }

    // MARK: Events

    /// One event's key: what `(org_id, project_id, event_id)` holds unique.
    struct EventKey: Hashable {
        var organizationID: String
        var projectID: String
        var id: String
    }

    /// The batches' events in one transaction, each stored once: an id already stored, or met earlier in these
    /// batches (the first occurrence wins), counts as a duplicate. The rollups grow by the events actually stored,
    /// planned before the transaction, while the previous group commits, and planned again only when some events
    /// turn out to be stored already. Events of a project that no longer exists (deleted with its organization while
    /// they were queued) are refused, never stored as rows of nobody: see `Schema.liveProjects`.
    public func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome] {
        var seen = Set<EventKey>()
        var candidates: [StoredEvent] = []
        var owner: [Int] = []
        for (b, batch) in batches.enumerated() {
            for event in batch.events
            where seen.insert(
                EventKey(organizationID: event.organizationID, projectID: event.projectID, id: event.event.id)
            ).inserted {
                candidates.append(event)
                owner.append(b)
            }
        }
        var accepted = Array(repeating: 0, count: batches.count)
        if !candidates.isEmpty {
            // A plan that fails (a sum past Int64) is made again in the transaction from the events actually stored,
            // which may be fewer and fit.
            let planned = try? RollupDelta.compute(candidates)
            let events = candidates
            // PostgreSQL: an event older than where raw events are kept is counted (its key and rollups) but not kept.
            var countedOnly = Set<Int>()
            if dialect == .postgres,
                let boundary = try await rawEventsBoundary.value(reading: {
                    try await retentionBoundaries().rawEventsFrom
                })
            {
                countedOnly = Set(candidates.indices.filter { candidates[$0].event.timestamp < boundary })
            }
            let kept = candidates.indices.filter { !countedOnly.contains($0) }.map { candidates[$0] }
            try await ensurePartitions(for: kept)
            var write = SQLBulkWrite(
                check: Schema.liveProjects(dialect, Set(candidates.map(\.projectID))),
                claim: dialect == .postgres ? UsageSQL.eventKeyClaims(candidates) : nil,
                insert: UsageSQL.eventInsert(dialect, candidates)
            ) { stored in
                let deltas =
                    if stored.count == events.count, let planned { planned } else {
                        try RollupDelta.compute(stored.map { events[$0] })
                    }
                let performance = PerformanceDelta.compute(stored.map { events[$0] })
                let contents = Self.contentInsert(stored.map { events[$0] })
                return deltas.filter { !$0.rows.isEmpty }.map(Schema.rollupIncrements)
                    + (performance.rows.isEmpty ? [] : [Schema.performanceIncrements(performance)])
                    + (contents.map { [$0] } ?? [])
            }
            write.claimOnly = countedOnly
            let stored: [Int]
            do {
                stored = try await database.bulkWrite(write)
            } catch TallyError.unavailable where dialect == .postgres {
                // A month's partition dropped by another replica since this one saw it: made again, once.
                knownPartitions.forget()
                try await ensurePartitions(for: kept)
                stored = try await database.bulkWrite(write)
            }
            for i in stored { accepted[owner[i]] += 1 }
        }
        return batches.enumerated().map { b, batch in
            InsertOutcome(accepted: accepted[b], duplicates: batch.events.count - accepted[b])
        }
    }

    public func events(_ query: EventQuery) async throws -> EventPage {
        var query = query
        query.filters = try await resolvingTeams(query.filters, organizationID: query.organizationID)
        let statement = UsageSQL.eventPage(dialect, query)
        let rows = try await query.current ? database.query(statement) : database.queryMayLag(statement)
        var decoded = try rows.map(UsageSQL.decodeEvent)
        var next: EventCursor?
        if decoded.count > query.limit {
            decoded.removeLast()
            let last = decoded[decoded.count - 1]
            next = EventCursor(timestamp: last.event.event.timestamp, sequence: last.sequence)
        }
        return EventPage(events: decoded.map(\.event), next: next)
    }

    public func eventsStored(
        after sequence: Int64, organizationID: String, filters: DimensionFilters,
        limit: Int
    ) async throws -> [SequencedEvent] {
        let filters = try await resolvingTeams(filters, organizationID: organizationID)
        return try await database.query(
            UsageSQL.eventsStored(
                dialect, organizationID: organizationID, after: sequence,
                filters: filters, limit: limit)
        )
        .map {
            let d = try UsageSQL.decodeEvent($0); return SequencedEvent(sequence: d.sequence, stored: d.event)
        }
    }

    public func latestSequence() async throws -> Int64 {
        try await database.query(SQLStatement(dialect, "SELECT COALESCE(MAX(seq), 0) AS seq FROM usage_events")).only()
            .int("seq")
    }

    public func event(organizationID: String, id: String, projectIDs: [String]?) async throws -> StoredEvent? {
        try await database.query(
            UsageSQL.eventByID(dialect, organizationID: organizationID, id: id, projectIDs: projectIDs)
        )
        .first.map { try UsageSQL.decodeEvent($0).event }
    }

    /// A query by team is asked by project and folded into teams (`TeamMap`): no table holds a team.
    public func summary(_ query: SummaryQuery) async throws -> SummaryResult {
        guard TeamMap.involved(query.dimensions, query.filters) else {
            return try await UsageSQL.summary(dialect, query) {
                try await query.current ? database.query($0) : database.queryMayLag($0)
            }
        }
        let teams = try await teamMap(organizationID: query.organizationID)
        let result = try await UsageSQL.summary(dialect, teams.resolving(query)) {
            try await query.current ? database.query($0) : database.queryMayLag($0)
        }
        return try teams.folding(result, into: query)
    }
}
