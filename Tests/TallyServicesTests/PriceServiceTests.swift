import TallyCore
import TallyPrice
import TallyServices
import Testing

@Suite struct OrganizationPriceEntryTests {
    private func parse(_ json: String) throws -> PriceEntry {
        try CatalogFile.parseOrganizationEntry(try JSONParser.parse(Array(json.utf8)), organizationID: "org_a")
    }

    @Test func namesEachProblemByItsField() throws {
        #expect(throws: TallyError.invalid([FieldProblem(field: "body", reason: "must be a price entry object")])) {
            try parse("[]")
        }
        #expect(
            throws: TallyError.invalid([
                FieldProblem(field: "id", reason: "unknown field"),
                FieldProblem(field: "checked", reason: "unknown field"),
            ])
        ) {
            try parse(#"{"id":"x","model":"m","from":"2026-01-01","prices":{"input":"1"},"checked":"2026-01-01"}"#)
        }
        #expect(throws: TallyError.invalid([FieldProblem(field: "from", reason: "is required")])) {
            try parse(#"{"model":"m","prices":{"input":"1"}}"#)
        }
        #expect(throws: TallyError.invalid([FieldProblem(field: "to", reason: "must be after from")])) {
            try parse(#"{"model":"m","from":"2026-02-01","to":"2026-01-01","prices":{"input":"1"}}"#)
        }
    }

    @Test func readsAnEntryAsTheOrganizations() throws {
        let entry = try parse(#"{"provider":"OpenAI","model":"My-Model","from":"2026-01-01","prices":{"input":"1.5"}}"#)
        #expect(entry.origin == .organization("org_a") && entry.provider == "openai" && entry.model == "my-model")
    }
}

@Suite struct PriceServiceTests {
    @Test func storesTheCatalogShapeAndPricesWithItAtOnce() async throws {
        let store = InMemoryStore()
        let service = PriceService(store: store, pricer: CatalogPricer())
        let parsed = try CatalogFile.parseOrganizationEntry(
            try JSONParser.parse(Array(#"{"model":"m","from":"2026-01-01","prices":{"input":"1"}}"#.utf8)),
            organizationID: "org_a")
        let entry = try await service.add(parsed, organizationID: "org_a", actor: "user:ada@example.com")
        #expect(entry.id.hasPrefix("price"))
        let records = try await store.priceRecords(organizationID: "org_a")
        #expect(records.count == 1 && records[0].id == entry.id && records[0].model == "m")
        var w = JSONWriter()
        CatalogFile.writeDefinition(entry, into: &w)
        #expect(records[0].definition == w.text)
        #expect(service.pricer.organizationEntries("org_a").map(\.id) == [entry.id])
        #expect(store.audit.map(\.action) == ["price.add"])
    }
}

/// An organization's entry stored before long-context tiers had their own service-tier rates (issue 16) still loads,
/// and prices as it did when stored; the same definition sent anew is refused as incomplete.
@Suite struct StoredPriceEntryTests {
    static let legacy =
        #"{"provider":null,"model":"m","aliases":[],"from":"2026-01-01","to":null,"source":null,"prices":{"input":"2","output":"8"},"batch":null,"service_tiers":{"flex":{"input":"1","output":"4"}},"tiers":[{"above_input_tokens":1000,"prices":{"input":"4","output":"12"}}],"per_request_usd":null,"note":null}"#

    @Test func anEntryStoredBeforeTierRatesStillPricesAsStored() throws {
        let record = OrganizationPriceRecord(
            id: "price_1", organizationID: "org_a", provider: nil, model: "m",
            from: CivilDate(year: 2026, month: 1, day: 1), to: nil, definition: Self.legacy, createdAt: .now)
        let entry = try #require(PriceService<InMemoryStore>.entry(record))
        var usage = TokenUsage()
        usage.inputTokens = 2000
        usage.requests = 1
        // Above the tier, flex takes the entry's flex rates it was stored with: 2000×1 = 0.002 (not 2000×4).
        let b = CostEngine.price(usage, batch: false, serviceTier: "flex", entry: entry, modelResolved: "m")
        #expect(b.cost.decimalString == "0.002")
        #expect(b.modifiers == ["long context: input above 1000 tokens", "service tier flex (long-context rates)"])
        #expect(throws: TallyError.self) {
            try CatalogFile.parseOrganizationEntry(try JSONParser.parse(Array(Self.legacy.utf8)), organizationID: "o")
        }
    }
}
