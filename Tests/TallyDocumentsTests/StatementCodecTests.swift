import TallyCore
import TallyDocuments
import XCTest

/// A closed month keeps its statement as `StatementCodec` writes it: reading it back must give the same statement,
/// and writing that again the same text, or a closed statement's bytes would move.
final class StatementCodecTests: XCTestCase {
    func testRoundTripKeepsEveryField() throws {
        var totals = UsageMetrics()
        totals.requests = 12
        totals.inputTokens = 1_000_000
        totals.outputTokens = 2_000
        totals.cachedInputTokens = 500
        totals.errors = 1
        totals.unpricedRequests = 2
        totals.cost = USD(nanos: 1_234_567_891)
        totals.providerCost = USD(nanos: 5)
        var unpriced = UsageMetrics()
        unpriced.requests = 2
        unpriced.unpricedRequests = 2
        let statement = Statement(
            organizationName: "Acme \"Corp\" 経理", timeZone: "Asia/Tokyo",
            period: StatementPeriod(
                kind: .month, label: "2026-11", firstDay: CivilDate(year: 2026, month: 11, day: 1),
                lastDay: CivilDate(year: 2026, month: 11, day: 30),
                range: TimeRange(from: Instant(seconds: 1_793_458_800), to: Instant(seconds: 1_796_050_800))),
            groupBy: "team", totals: totals,
            groups: [
                StatementGroup(key: "🚀 launch", name: "🚀 launch", metrics: totals, previousCost: USD(nanos: 7)),
                StatementGroup(key: nil, name: "no team", metrics: unpriced, previousCost: .zero),
            ],
            daily: [StatementDay(date: CivilDate(year: 2026, month: 11, day: 1), cost: USD(nanos: 3))],
            previous: StatementPrevious(
                label: "2026-10", firstDay: CivilDate(year: 2026, month: 10, day: 1),
                lastDay: CivilDate(year: 2026, month: 10, day: 31), totals: unpriced,
                daily: [StatementDay(date: CivilDate(year: 2026, month: 10, day: 1), cost: .zero)]),
            budgets: [
                StatementBudget(
                    name: "Monthly", scope: "whole organization", period: "month 2026-11-01 – 2026-11-30",
                    amount: USD(nanos: 100_000_000_000), spent: USD(nanos: 1_234_567_891), status: "ok")
            ],
            providerBilled: USD(nanos: 999),
            closure: StatementClosure(
                number: "ST-202611-1", closedAt: Instant(seconds: 1_796_100_000), closedBy: "ana@example.com"),
            generatedAt: Instant(seconds: 1_796_100_000))
        let text = StatementCodec.encode(statement)
        let back = try StatementCodec.decode(text)
        XCTAssertEqual(back, statement)
        XCTAssertEqual(StatementCodec.encode(back), text)
    }

    func testDamagedSnapshotNamesTheField() {
        XCTAssertThrowsError(try StatementCodec.decode(#"{"organization":"A"}"#)) { error in
            XCTAssertEqual((error as? StatementCodec.DecodingError)?.field, "period")
        }
    }
}
