import TallyCore
import TallyDocuments
import TallyPrice

/// The FinOps FOCUS export (issue 20): Tally's observed usage as charges, one per local day × project × provider ×
/// model × billed token class, read month by month from the same `store.summary` as the API, so the BilledCost
/// column adds up to the summary's cost for the range exactly.
///
/// The store sums events, not cost lines, so a group's lines are re-derived: its summed tokens priced by the entry in
/// force at the day's start (standard rates, no batch or tier modifiers) give each class's weight, and the group's
/// stored cost (the sum of its events' exact costs) is split over the classes by those weights (`FocusCSV.allocate`).
/// The split is proportional, the total exact.
public struct FocusExport<Store: UsageStore & ProjectStore & OrganizationStore>: Sendable {
    let store: Store
    let pricer: CatalogPricer

    public init(store: Store, pricer: CatalogPricer) {
        self.store = store
        self.pricer = pricer
    }

    /// Calls `write` with the charges of each chunk of the range in order (a local month, or a day when a month has
    /// more groups than one summary may answer).
    public func charges(
        organizationID: String, from: Instant, to: Instant, write: ([FocusCharge]) async throws -> Void
    ) async throws {
        guard let org = try await store.organization(id: organizationID) else {
            throw TallyError.notFound("organization")
        }
        let zone = TimeZoneRules(identifier: org.timeZone) ?? .utc
        let names = Dictionary(
            try await store.projects(organizationID: org.id).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        var start = from
        while start < to {
            let monthStart = zone.localDate(of: start)
            let nextMonth = zone.startOfDay(
                CivilDate(year: monthStart.year, month: monthStart.month, day: 1).addingMonths(1))
            let end = min(nextMonth, to)
            guard end > start else { break }  // Never in a real zone; a loop that cannot advance must not spin.
            do {
                try await write(try await chunk(org.id, zone: zone, from: start, to: end, names: names))
            } catch TallyError.tooManyGroups {
                var day = start
                while day < end {
                    let next = min(zone.startOfDay(zone.localDate(of: day).addingDays(1)), end)
                    try await write(try await chunk(org.id, zone: zone, from: day, to: next, names: names))
                    day = next
                }
            }
            start = end
        }
    }

    private func chunk(_ org: String, zone: TimeZoneRules, from: Instant, to: Instant, names: [String: String])
        async throws -> [FocusCharge]
    {
        let result = try await store.summary(
            SummaryQuery(
                organizationID: org, from: from, to: to, timeZone: zone, grain: .day,
                dimensions: [.project, .provider, .model], filters: [:]))
        var charges: [FocusCharge] = []
        for group in result.groups {
            guard let label = group.period, let day = CivilDate(parsing: label) else { continue }
            let project = (group.values[.project] ?? nil) ?? ""
            let provider = (group.values[.provider] ?? nil) ?? ""
            let model = (group.values[.model] ?? nil) ?? ""
            // A range that starts or ends inside a day charges only its part of that day.
            let charge = TimeRange(
                from: max(zone.startOfDay(day), from), to: min(zone.startOfDay(day.addingDays(1)), to))
            let first = CivilDate(year: day.year, month: day.month, day: 1)
            let billing = TimeRange(from: zone.startOfDay(first), to: zone.startOfDay(first.addingMonths(1)))
            charges += lines(
                group.metrics, provider: provider, model: model, at: charge.from, organizationID: org
            ).map { line in
                FocusCharge(
                    chargePeriod: charge, billingPeriod: billing, provider: provider, projectID: project,
                    projectName: names[project] ?? project, model: model, priceID: line.entry?.id,
                    tokenClass: line.tokenClass, quantity: line.quantity, listUnitPricePerMillion: line.rate,
                    cost: line.cost, tags: [("project", names[project] ?? project)], priceEntryFrom: line.entry?.from)
            }
        }
        return charges
    }

    struct Line {
        var tokenClass: String
        var quantity: Int64
        var rate: String?
        var cost: USD
        var entry: PriceEntry?
    }

    /// The group's billed classes with their share of its stored cost; unpriced usage as token lines at no cost.
    func lines(_ m: UsageMetrics, provider: String, model: String, at: Instant, organizationID: String) -> [Line] {
        var usage = TokenUsage()
        for c in TokenClass.counts { usage[c] = m[c] }
        usage.requests = m.requests
        // Usage that was priced (some of it): its lines by today's entry. Wholly unpriced usage stays unpriced even
        // if an entry resolves now (its stored cost is zero, and "priced at 0" would read as free).
        if m.unpricedRequests < m.requests,
            let (entry, resolved) = pricer.resolve(
                provider: provider, model: model, at: at, organizationID: organizationID)
        {
            let breakdown = CostEngine.price(
                usage, batch: false, serviceTier: nil, entry: entry, modelResolved: resolved)
            if breakdown.problem == nil, !breakdown.lines.isEmpty {
                let parts = FocusCSV.allocate(m.cost, weights: breakdown.lines.map(\.cost))
                return zip(breakdown.lines, parts).map { line, part in
                    Line(tokenClass: line.tokenClass, quantity: line.tokens, rate: line.rate, cost: part, entry: entry)
                }
            }
        }
        // No entry (or counts it cannot price): the usage still shows, at its stored cost on the first class.
        var out: [Line] = []
        for c in [TokenClass.input, .output] where m[c] > 0 || c == .input {
            out.append(Line(tokenClass: c.rawValue, quantity: m[c], rate: nil, cost: out.isEmpty ? m.cost : .zero))
        }
        return out
    }
}
