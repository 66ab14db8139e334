import TallyCore
import TallyDocuments
import TallyPrice
import Testing

@testable import TallyServices

/// A receipt's number is stable for the same stored event and differs across organizations; its lines are the
/// breakdown's, and an unpriced event says why and has no total.
@Suite struct ReceiptsTests {
    func stored(org: String = "org_1", id: String = "evt-1", cost: USD?) -> StoredEvent {
        var e = UsageEvent(
            id: id, timestamp: Instant(rfc3339: "2026-11-20T10:00:00Z")!, provider: "openai", model: "gpt-4o")
        e.usage.inputTokens = 1_000
        e.usage.outputTokens = 200
        return StoredEvent(
            event: e, organizationID: org, projectID: "prj_1", projectName: "経理チーム", receivedAt: .now, cost: cost,
            priceID: nil)
    }

    let org = Organization(id: "org_1", name: "Acme", timeZone: "Asia/Tokyo", createdAt: .now)

    @Test func numbersAreStableAndSayNothingOfTheEvent() {
        let a = Receipts.number(stored(cost: nil))
        #expect(a == Receipts.number(stored(cost: USD(nanos: 5))))
        #expect(a != Receipts.number(stored(org: "org_2", cost: nil)))
        #expect(a != Receipts.number(stored(id: "evt-2", cost: nil)))
        #expect(a.hasPrefix("R-") && a.count == 16 && !a.contains("evt"))
    }

    @Test func linesComeFromTheBreakdown() throws {
        let pricer = CatalogPricer()
        let event = stored(cost: nil)
        let quote = try #require(pricer.quote(event.event, organizationID: "org_1"))
        var priced = event
        priced.cost = quote.cost
        priced.priceID = quote.priceID
        let breakdown = try #require(pricer.breakdown(priced))
        let r = Receipts.receipt(priced, breakdown: breakdown, organization: org)
        #expect(r.lines.map(\.tokenClass) == breakdown.lines.map(\.tokenClass))
        #expect(r.lines.reduce(USD.zero) { $0 + $1.amount } == quote.cost)
        #expect(r.total == quote.cost && r.unpricedReason == nil)
        #expect(r.priceEntry?.id == quote.priceID && r.priceEntry?.source == "catalog")
        #expect(r.projectName == "経理チーム" && r.timeZone == "Asia/Tokyo")

        let unpriced = Receipts.receipt(event, breakdown: nil, organization: org)
        #expect(unpriced.total == nil && unpriced.lines.isEmpty)
        #expect(unpriced.unpricedReason?.contains("no price entry") == true)
    }
}
