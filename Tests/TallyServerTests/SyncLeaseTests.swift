import Logging
import TallyCore
import TallyPrice
import TallyServices
import TallyStoreSQL
import TallyStoreSQLite
import Testing

@testable import TallyServer

/// `runLeased`: the one place the sync's lease is taken and given back, by the server, the API and the CLI.
@Suite struct SyncLeaseTests {
    struct Boom: Error {}

    func runner(_ f: AccountsFixture) -> SyncRunner<SQLiteStore> {
        SyncRunner(
            store: f.store, connections: ConnectionService(store: f.store, vault: f.options.vault),
            vault: f.options.vault,
            pricer: CatalogPricer(), logger: Logger(label: "test"))
    }

    @Test func theLeaseIsGivenBackWhenTheRunThrows() async throws {
        let f = try await AccountsFixture.make()
        let runner = runner(f)
        await #expect(throws: Boom.self) {
            _ = try await runner.runLeased("conn_a", holder: "cli_1") { () async throws -> Int in throw Boom() }
        }
        // Another holder gets it at once, not after the lease's 120 s.
        #expect(try await runner.runLeased("conn_a", holder: "replica_2") { 1 } == 1)
    }

    @Test func aHeldLeaseIsNotRunAndNotTakenAway() async throws {
        let f = try await AccountsFixture.make()
        let runner = runner(f)
        let now = Instant.now
        #expect(
            try await f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "replica_1", until: now.adding(seconds: 120), now: now))
        var ran = false
        #expect(
            try await runner.runLeased("conn_a", holder: "cli_1") {
                ran = true; return 1
            } == nil)
        #expect(!ran)
        // Still replica_1's: the refused holder released nothing.
        #expect(
            try await f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "cli_2", until: now.adding(seconds: 120), now: now) == false)
        #expect(try await runner.runLeased("conn_a", holder: "replica_1") { 2 } == 2)
        #expect(try await runner.runLeased("conn_a", holder: "cli_1") { 3 } == 3)
    }
}
