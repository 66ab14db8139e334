import Testing

@testable import TallyCore
@testable import TallyIngest

@Suite struct GroupCommitterTests {
    /// A stand-in for the store: each commit is one all-or-nothing transaction that takes a while and then makes its
    /// rows visible at once; ids already stored are duplicates (as `ON CONFLICT DO NOTHING`).
    actor Table {
        var rows: [String: Int64] = [:]
        /// How often each id was written (a batch committed twice writes it twice).
        var writes: [String: Int] = [:]
        /// Per transaction that committed: its batches' first event ids.
        var transactions: [[String]] = []

        func commit(_ batches: [EventBatch], failIf: @Sendable (EventBatch) -> Bool = { _ in false }) async throws
            -> [InsertOutcome]
        {
            try await Task.sleep(for: .milliseconds(20))  // the transaction in progress: nothing visible yet
            if batches.contains(where: failIf) { throw TallyError.unavailable("boom") }
            var outcomes: [InsertOutcome] = []
            for batch in batches {
                var accepted = 0, duplicates = 0
                for e in batch.events {
                    if rows[e.event.id] == nil {
                        rows[e.event.id] = e.event.usage.outputTokens
                        writes[e.event.id, default: 0] += 1
                        accepted += 1
                    } else {
                        duplicates += 1
                    }
                }
                outcomes.append(InsertOutcome(accepted: accepted, duplicates: duplicates))
            }
            transactions.append(batches.map { $0.events.first?.event.id ?? "-" })
            return outcomes
        }
        func stored(_ ids: [String]) -> Bool { ids.allSatisfy { rows[$0] != nil } }
    }

    static func event(_ id: String, output: Int64) -> StoredEvent {
        var e = UsageEvent(id: id, timestamp: Instant(seconds: 1_763_640_000), provider: "p", model: "m")
        e.usage.outputTokens = output
        return StoredEvent(
            event: e, organizationID: "o", projectID: "p", projectName: "p",
            receivedAt: Instant(seconds: 1_763_640_000),
            cost: nil, priceID: nil)
    }

    @Test func concurrentSubmissionsShareTransactionsAndEachGetsItsOutcome() async throws {
        let table = Table()
        let committer = GroupCommitter(maxInFlight: 1) { batches in try await table.commit(batches) }
        // Batch k holds k + 1 events (so every outcome names its batch), ids "k-j", output tokens 1000k + j.
        let expected: [String: Int64] = Dictionary(
            uniqueKeysWithValues: (0..<40).flatMap { k in
                (0...k).map { j in ("\(k)-\(j)", Int64(1000 * k + j)) }
            })
        let results = try await withThrowingTaskGroup(of: (Int, InsertOutcome, Bool).self) { group in
            for k in 0..<40 {
                group.addTask {
                    let batch = (0...k).map { j in Self.event("\(k)-\(j)", output: Int64(1000 * k + j)) }
                    let outcome = try await committer.submit(EventBatch(organizationID: "o", events: batch))
                    // Acknowledged only once committed: its rows are visible the moment submit returns.
                    return (k, outcome, await table.stored(batch.map(\.event.id)))
                }
            }
            return try await group.reduce(into: [(Int, InsertOutcome, Bool)]()) { $0.append($1) }
        }
        #expect(results.map(\.0).sorted() == Array(0..<40), "every submission returned once")
        for (k, outcome, visible) in results {
            #expect(
                outcome == InsertOutcome(accepted: k + 1, duplicates: 0),
                "batch \(k) got another batch's outcome: \(outcome)")
            #expect(visible, "batch \(k) was acknowledged before its transaction committed")
        }
        // Every row, exactly as sent: none lost, none invented, none written twice.
        #expect(await table.rows == expected)
        #expect(await table.writes.values.allSatisfy { $0 == 1 })
        let transactions = await table.transactions
        #expect(
            transactions.flatMap { $0 }.sorted() == (0..<40).map { "\($0)-0" }.sorted(),
            "each batch in exactly one commit")
        #expect(transactions.count < 40, "requests were grouped into fewer transactions: \(transactions.map(\.count))")
    }

    @Test func oneFailingBatchDoesNotFailTheOthers() async throws {
        let table = Table()
        let committer = GroupCommitter(maxInFlight: 1) { batches in
            try await table.commit(batches, failIf: { $0.organizationID == "bad" })
        }
        let results = await withTaskGroup(of: (Int, Bool).self) { group in
            for i in 0..<10 {
                group.addTask {
                    let batch = EventBatch(
                        organizationID: i == 3 ? "bad" : "ok",
                        events: [Self.event("\(i)-a", output: Int64(i)), Self.event("\(i)-b", output: Int64(100 + i))])
                    return (i, (try? await committer.submit(batch)) == InsertOutcome(accepted: 2, duplicates: 0))
                }
            }
            return await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
        }
        #expect(results.filter { !$0.1 }.map(\.0) == [3], "only the bad batch fails")
        // The others' rows are stored once each; nothing of the failed one (its transaction wrote nothing).
        let expected = Dictionary(
            uniqueKeysWithValues: (0..<10).filter { $0 != 3 }.flatMap { i in
                [("\(i)-a", Int64(i)), ("\(i)-b", Int64(100 + i))]
            })
        #expect(await table.rows == expected)
        #expect(await table.writes.values.allSatisfy { $0 == 1 })
    }
}
