import TallyAggregate
import TallyCore
import TallyPrice
import TallyTestSupport
import Testing

/// The price half of the store contract, on both stores.
@Suite(.serialized) struct PriceStoreContractTests {
    func audit(_ org: String, _ action: String) -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "test", action: action, detail: "{}")
    }

    func total(_ store: any TallyStore, _ org: String, dims: [UsageDimension] = []) async throws -> SummaryResult {
        try await store.summary(
            SummaryQuery(
                organizationID: org, from: at("2026-11-01T00:00:00Z"), to: at("2026-12-01T00:00:00Z"),
                timeZone: .utc, grain: .day, dimensions: dims, filters: [:]))
    }

    /// Priced at ingestion by the real engine, the sum of the events' costs equals the rollups' and the summary's,
    /// exactly; re-pricing moves both by exactly the difference, and a stale change is refused whole.
    @Test(arguments: StoreKind.available)
    func pricedSumsAreExactAndRepricingKeepsRollupsTrue(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let pricer = CatalogPricer()
            var rng = SplitMix(seed: 7)
            let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-pro", "o4-mini", "not-a-model"]
            var events: [StoredEvent] = []
            let start = at("2026-11-05T00:00:00Z").microseconds
            for i in 0..<400 {
                var e = stored(
                    "p\(i)", Instant(microseconds: start + Int64(rng.next() % (10 * 86_400_000_000))).rfc3339,
                    org: org.id, project: web, model: models[Int(rng.next() % 6)], input: Int64(rng.next() % 300_000),
                    output: Int64(rng.next() % 5000))
                e.event.usage.cachedInputTokens = e.event.usage.inputTokens / Int64(2 + rng.next() % 5)
                e.event.usage.reasoningTokens = e.event.usage.outputTokens / 3
                e.event.batch = rng.next() % 4 == 0
                let quote = pricer.quote(e.event, organizationID: org.id)
                e.cost = quote?.cost
                e.priceID = quote?.priceID
                events.append(e)
            }
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            let expected = events.reduce(USD.zero) { $0 + ($1.cost ?? .zero) }
            let unpriced = events.filter { $0.cost == nil }.reduce(Int64(0)) { $0 + $1.event.usage.requests }
            let before = try await total(store, org.id, dims: [.model])
            #expect(before.totals.cost == expected)
            #expect(before.totals.unpricedRequests == unpriced)
            #expect(before.groups.reduce(USD.zero) { $0 + $1.metrics.cost } == expected)

            // The unpriced model is listed, with its requests and first/last seen.
            let listed = try await store.unpricedModels(organizationID: org.id, from: nil, to: nil, projectIDs: nil)
            #expect(listed.map(\.model) == ["not-a-model"])
            #expect(listed.first?.requests == unpriced)

            // Price the unknown model and cut gpt-4o from 2026-11-10 on; re-price what changes.
            pricer.setOrganizationEntries(
                [
                    try CatalogFile.parseEntry(
                        .object([
                            ("model", .string("not-a-model")), ("from", .string("2026-01-01")),
                            ("prices", .object([("input", .string("1")), ("output", .string("2"))])),
                        ]),
                        origin: .organization(org.id), at: "e"),
                    try CatalogFile.parseEntry(
                        .object([
                            ("model", .string("gpt-4o")), ("from", .string("2026-11-10")),
                            ("prices", .object([("input", .string("2")), ("output", .string("8"))])),
                        ]),
                        origin: .organization(org.id), at: "e"),
                ], organizationID: org.id)
            var changes: [RepricedEvent] = []
            for e in events {
                let q = pricer.quote(e.event, organizationID: org.id)
                if q?.cost != e.cost || q?.priceID != e.priceID {
                    changes.append(RepricedEvent(stored: e, cost: q?.cost, priceID: q?.priceID))
                }
            }
            #expect(!changes.isEmpty)
            try await store.applyRepricing(changes, audit: audit(org.id, "price.recompute"))
            let newExpected = events.reduce(USD.zero) { sum, e in
                sum + (pricer.quote(e.event, organizationID: org.id)?.cost ?? .zero)
            }
            let after = try await total(store, org.id, dims: [.model, .user])
            #expect(after.totals.cost == newExpected)
            #expect(after.totals.unpricedRequests == 0)
            #expect(try await store.unpricedModels(organizationID: org.id, from: nil, to: nil, projectIDs: nil).isEmpty)
            let reread = try await store.event(organizationID: org.id, id: changes[0].stored.event.id, projectIDs: nil)
            #expect(reread?.cost == changes[0].cost)

            // Applying the same changes again: the stored costs no longer match what they were read as.
            await #expect(throws: TallyError.self) {
                try await store.applyRepricing(changes, audit: audit(org.id, "price.recompute"))
            }
            #expect(try await total(store, org.id).totals.cost == newExpected)
            #expect(try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).count == 1)
        }
    }

    @Test(arguments: StoreKind.available)
    func organizationPriceRecordsAreAddedEndedAndScoped(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let d = { (s: String) in CivilDate(parsing: s)! }
            let record = OrganizationPriceRecord(
                id: "price_a", organizationID: org.id, provider: "azure_openai", model: "gpt-4o",
                from: d("2026-11-01"), to: nil, definition: #"{"model":"gpt-4o"}"#, createdAt: .now)
            try await store.addPriceRecord(record, audit: audit(org.id, "price.add"))
            let future = OrganizationPriceRecord(
                id: "price_b", organizationID: org.id, provider: nil, model: "o3",
                from: d("2026-12-01"), to: nil, definition: #"{"model":"o3"}"#, createdAt: .now)
            try await store.addPriceRecord(future, audit: audit(org.id, "price.add"))
            #expect(try await store.priceRecords(organizationID: org.id) == [record, future])
            #expect(try await store.priceRecords(organizationID: "org_other").isEmpty)
            #expect(try await store.priceRecords(organizationID: nil).count == 2)

            try await store.endPriceRecord(
                organizationID: org.id, id: "price_a", on: d("2026-11-15"), audit: audit(org.id, "price.end"))
            try await store.endPriceRecord(
                organizationID: org.id, id: "price_b", on: d("2026-11-15"), audit: audit(org.id, "price.end"))
            let left = try await store.priceRecords(organizationID: org.id)
            #expect(left.map(\.id) == ["price_a"], "an entry not yet in force is removed")
            #expect(left.first?.to == d("2026-11-15"))
            await #expect(throws: TallyError.notFound("price entry 'price_a'")) {
                try await store.endPriceRecord(
                    organizationID: "org_other", id: "price_a", on: d("2026-11-16"), audit: audit("org_other", "x"))
            }
            let log = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(log.count == 4)
            #expect(Set(log.map(\.action)) == ["price.add", "price.end"])
        }
    }
}
