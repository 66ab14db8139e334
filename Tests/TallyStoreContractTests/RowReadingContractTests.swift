import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// Rows are read by column name and every value is checked: a stored value the code cannot read is an error naming
/// the column, never a default (an unknown role read as a viewer, a broken time read as 1970).
@Suite(.serialized) struct RowReadingContractTests {
    /// Runs raw SQL against the store's database, to store what Tally itself never writes.
    func execute(_ store: any TallyStore, _ sql: String) async throws {
        if let sqlite = store as? SQLiteStore {
            try await sqlite.database.execute(SQLStatement(.sqlite, sql))
        } else if let postgres = store as? PostgresStore {
            try await postgres.database.execute(SQLStatement(.postgres, sql))
        } else {
            Issue.record("unknown store \(type(of: store))")
        }
    }

    func column(of error: any Error) -> String? { (error as? SQLRowError)?.column }

    @Test(arguments: StoreKind.available)
    func aValueNoCaseHoldsIsAnErrorNamingTheColumn(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            _ = try await store.insert([
                EventBatch(
                    organizationID: org.id, events: [stored("a", "2026-11-20T10:00:00Z", org: org.id, project: web)])
            ])
            try await execute(store, "UPDATE usage_events SET operation = 'teleport'")
            do {
                _ = try await store.events(EventQuery(organizationID: org.id, limit: 10))
                Issue.record("an unknown operation was read")
            } catch {
                #expect(column(of: error) == "operation", "\(error)")
            }
            let user = User(id: "usr_1", email: "a@example.com", name: "A", createdAt: .now)
            try await store.createUser(user, passwordHash: "x")
            try await store.addMember(organizationID: org.id, userID: user.id, role: .owner, at: .now)
            try await execute(store, "UPDATE memberships SET role = 'emperor'")
            do {
                _ = try await store.members(organizationID: org.id)
                Issue.record("an unknown role was read")
            } catch {
                #expect(column(of: error) == "role", "\(error)")
            }
        }
    }

    /// SQLite keeps what it is given: text in an integer column is refused when read, not read as 0.
    @Test func textInAnIntegerColumnIsAnError() async throws {
        try await StoreKind.sqlite.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            _ = try await store.createProject(organizationID: org.id, name: "web")
            try await execute(store, "UPDATE projects SET created_us = 'yesterday'")
            do {
                _ = try await store.projects(organizationID: org.id)
                Issue.record("text was read as a time")
            } catch {
                #expect(column(of: error) == "created_us", "\(error)")
            }
        }
    }

    @Test func rowsAreReadByNameAndChecked() throws {
        let row = SQLRow(
            columns: SQLColumns(["id", "n", "gone", "id2", "twice", "twice"]),
            values: [.text("x"), .int(3), .null, .int(7), .int(1), .int(2)])
        #expect(try row.text("id") == "x")
        #expect(try row.int("n") == 3)
        #expect(try row.optionalText("gone") == nil)
        #expect(try row.optionalInt("gone") == nil)
        #expect(throws: SQLRowError.self) { try row.int("gone") }
        #expect(throws: SQLRowError.self) { try row.text("n") }
        #expect(throws: SQLRowError.self) { try row.int("id") }
        #expect(throws: SQLRowError.self) { try row.int("missing") }
        #expect(throws: SQLRowError.self) { try row.int("twice") }
        #expect(throws: SQLRowError.self) { try row.bool("id2") }
        #expect(throws: SQLRowError.self) { try row.raw("id", as: Role.self) }
    }
}
