import TallyCore
import Testing

@testable import TallyIngest

/// The projects and events of one organization, in memory: what the pipeline needs of a store.
actor MemoryEventStore: ProjectStore, EventStore {
    var projects: [Project] = []
    var batches: [EventBatch] = []
    /// Inserts fail while this is set (a database that refuses).
    var failing: (@Sendable (StoredEvent) -> Bool)?

    init(projects: [Project]) { self.projects = projects }

    func failWhen(_ refuse: @escaping @Sendable (StoredEvent) -> Bool) { failing = refuse }

    func createProject(organizationID: String, name: String) async throws -> Project {
        let p = Project(id: "p_\(name)", organizationID: organizationID, name: name, createdAt: Instant(seconds: 0))
        projects.append(p)
        return p
    }
    func projects(organizationID: String) async throws -> [Project] {
        projects.filter { $0.organizationID == organizationID }
    }
    func project(organizationID: String, name: String) async throws -> Project? {
        projects.first { $0.organizationID == organizationID && $0.name == name }
    }
    func project(organizationID: String, id: String) async throws -> Project? {
        projects.first { $0.organizationID == organizationID && $0.id == id }
    }
    func updateProject(organizationID: String, id: String, name: String, archivedAt: Instant?) async throws {}

    func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome] {
        if let failing, batches.contains(where: { $0.events.contains(where: failing) }) {
            throw TallyError.unavailable("refused")
        }
        self.batches += batches
        return batches.map { InsertOutcome(accepted: $0.events.count, duplicates: 0) }
    }
    func events(_ query: EventQuery) async throws -> EventPage {
        EventPage(events: batches.flatMap(\.events), next: nil)
    }
    func eventsStored(after sequence: Int64, organizationID: String, filters: DimensionFilters, limit: Int) async throws
        -> [SequencedEvent]
    { [] }
    func latestSequence() async throws -> Int64 { 0 }
    func event(organizationID: String, id: String, projectIDs: [String]?) async throws -> StoredEvent? { nil }

    var stored: [StoredEvent] { batches.flatMap(\.events) }
}

/// Every event costs a dollar a token of output, under the price entry "test".
struct OutputPricer: Pricer {
    func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote? {
        PriceQuote(cost: USD(nanos: event.usage.outputTokens * 1_000_000_000), priceID: "test")
    }
}

@Suite struct IngestPipelineTests {
    let now = Instant(rfc3339: "2026-11-20T12:00:00Z")!
    static let org = "org_1"

    static func token(_ scopes: Set<Scope> = [.ingest], archived: Bool = false) -> APIToken {
        APIToken(
            id: "tok_1", organizationID: org, projectID: "p_web", projectName: "web", name: nil, scopes: scopes,
            hint: "abcd",
            createdAt: Instant(seconds: 0), projectArchived: archived)
    }

    func pipeline() -> (IngestPipeline<MemoryEventStore>, MemoryEventStore) {
        let store = MemoryEventStore(projects: [
            Project(id: "p_web", organizationID: Self.org, name: "web", createdAt: Instant(seconds: 0)),
            Project(id: "p_api", organizationID: Self.org, name: "api", createdAt: Instant(seconds: 0)),
            Project(
                id: "p_old", organizationID: Self.org, name: "old", createdAt: Instant(seconds: 0),
                archivedAt: Instant(seconds: 1)),
        ])
        return (IngestPipeline(store: store, pricer: OutputPricer()), store)
    }

    func body(_ events: String...) -> [UInt8] {
        Array(
            ("["
                + events.map {
                    #"{"timestamp":"2026-11-20T11:00:00Z","provider":"openai","model":"m","output_tokens":2"# + $0 + "}"
                }
                .joined(separator: ",") + "]").utf8)
    }

    @Test func aTokensEventsGoToItsProjectPricedAndCommitted() async throws {
        let (pipeline, store) = pipeline()
        let outcome = try await pipeline.ingest(
            body(#","id":"a""#, #","id":"b""#), format: .json,
            principal: Principal(.token(Self.token())), now: now)
        #expect(outcome == InsertOutcome(accepted: 2, duplicates: 0))
        let stored = await store.stored
        #expect(stored.map(\.event.id) == ["a", "b"])
        #expect(
            stored.allSatisfy {
                $0.projectID == "p_web" && $0.event.attribution.project == "web" && $0.receivedAt == now
            })
        #expect(stored.allSatisfy { $0.cost == USD(nanos: 2_000_000_000) && $0.priceID == "test" })
    }

    @Test func anAdminTokenNamesAnotherProject() async throws {
        let (pipeline, store) = pipeline()
        _ = try await pipeline.ingest(
            body(#","project":"api""#), format: .json, principal: Principal(.token(Self.token([.admin]))), now: now)
        #expect(await store.stored.map(\.projectID) == ["p_api"])
    }

    @Test func oneBadEventRefusesTheRequestWithEveryProblemAndStoresNothing() async throws {
        let (pipeline, store) = pipeline()
        await #expect(
            throws: TallyError.invalid([
                FieldProblem(index: 1, field: "project", reason: "this token may only send events to project 'web'")
            ])
        ) {
            try await pipeline.ingest(
                body("", #","project":"api""#), format: .json, principal: Principal(.token(Self.token())), now: now)
        }
        await #expect(
            throws: TallyError.invalid([
                FieldProblem(index: 0, field: "project", reason: "unknown project 'nope'"),
                FieldProblem(index: 1, field: "project", reason: "project 'old' is archived"),
            ])
        ) {
            try await pipeline.ingest(
                body(#","project":"nope""#, #","project":"old""#), format: .json,
                principal: Principal(.token(Self.token([.admin]))), now: now)
        }
        await #expect(throws: TallyError.forbidden("project 'web' is archived: it takes no new events")) {
            try await pipeline.ingest(
                body(""), format: .json, principal: Principal(.token(Self.token(archived: true))), now: now)
        }
        #expect(await store.stored.isEmpty)
    }

    @Test func aRecordedCallIsAdmittedChargedToItsTokenAndPricedOnlyWithKnownUsage() throws {
        let (pipeline, _) = pipeline()
        var call = UsageEvent(id: "gw_1", timestamp: now, provider: "openai", model: "m", source: .gateway)
        call.usage.outputTokens = 3
        call.attribution.environment = String(repeating: "e", count: 65)
        call.attribution.tags = [String(repeating: "k", count: 65): "v"]
        let stored = try pipeline.recordable(
            call, token: Self.token(), usageKnown: true, ownTags: ["provider_request_id": "req_1"],
            receivedAt: now)
        #expect(stored.projectID == "p_web" && stored.projectName == "web" && stored.organizationID == Self.org)
        #expect(stored.event.attribution.environment == nil)
        // The caller's tags went (one was refused); Tally's own stayed.
        #expect(
            stored.event.attribution.tags == [
                "tally_refused_attribution": "environment,tags", "provider_request_id": "req_1",
            ])
        #expect(stored.cost == USD(nanos: 3_000_000_000))
        #expect(try pipeline.recordable(call, token: Self.token(), usageKnown: false, receivedAt: now).cost == nil)
        call.usage.outputTokens = -1
        let absurd = try pipeline.recordable(call, token: Self.token(), usageKnown: true, receivedAt: now)
        #expect(absurd.cost == nil && absurd.event.outcome.errorType == "usage_out_of_bounds")
    }

    @Test func aRecordedCallTheRulesCannotMendIsRefused() {
        let (pipeline, _) = pipeline()
        let call = UsageEvent(id: "", timestamp: now, provider: "openai", model: "m", source: .gateway)
        #expect(throws: TallyError.self) {
            try pipeline.recordable(call, token: Self.token(), usageKnown: true, receivedAt: now)
        }
    }
}

@Suite struct GroupCommitterEachTests {
    static func event(_ id: String, org: String) -> StoredEvent {
        StoredEvent(
            event: UsageEvent(id: id, timestamp: Instant(seconds: 1_763_640_000), provider: "p", model: "m"),
            organizationID: org, projectID: "p", projectName: "p", receivedAt: Instant(seconds: 1_763_640_000),
            cost: nil, priceID: nil)
    }

    @Test func batchesSubmittedTogetherShareATransactionAndEachGetsItsResult() async throws {
        let store = MemoryEventStore(projects: [])
        await store.failWhen { $0.event.id == "bad" }
        let committer = GroupCommitter(maxInFlight: 1) { batches in try await store.insert(batches) }
        let results = await committer.submitEach([
            EventBatch(organizationID: "a", events: [Self.event("a1", org: "a"), Self.event("a2", org: "a")]),
            EventBatch(organizationID: "b", events: [Self.event("bad", org: "b")]),
            EventBatch(organizationID: "c", events: [Self.event("c1", org: "c")]),
        ])
        #expect(results.count == 3)
        #expect((try? results[0].get()) == InsertOutcome(accepted: 2, duplicates: 0))
        #expect((try? results[1].get()) == nil)
        #expect((try? results[2].get()) == InsertOutcome(accepted: 1, duplicates: 0))
        #expect(await store.stored.map(\.event.id) == ["a1", "a2", "c1"])
        #expect(await committer.submitEach([]).isEmpty)
    }

    @Test func aFlushLargerThanOneGroupIsCommittedWhole() async throws {
        let store = MemoryEventStore(projects: [])
        let committer = GroupCommitter(maxInFlight: 2, maxEventsPerGroup: 3) { batches in
            try await store.insert(batches)
        }
        let batches = (0..<10).map { i in EventBatch(organizationID: "o", events: [Self.event("e\(i)", org: "o")]) }
        let results = await committer.submitEach(batches)
        #expect(results.allSatisfy { (try? $0.get()) == InsertOutcome(accepted: 1, duplicates: 0) })
        #expect(Set(await store.stored.map(\.event.id)) == Set((0..<10).map { "e\($0)" }))
        #expect(await store.batches.count == 10)
    }
}
