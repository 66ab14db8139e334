import TallyCore
import TallyPrice

public typealias InsightServiceStore = OrganizationStore & ProjectStore & UsageStore & InsightStore & FlagStore
    & CatalogRevisionStore

/// Computes insights from the rollups and records them; dismissing and the settings, each change audited.
public struct InsightService<Store: InsightServiceStore>: Sendable {
    public let store: Store
    public let pricer: CatalogPricer

    public init(store: Store, pricer: CatalogPricer) {
        self.store = store
        self.pricer = pricer
    }

    /// Computes the organization's insights as of `now` and records them (new, still seen, resolved).
    @discardableResult
    public func compute(organizationID: String, at now: Instant) async throws -> [InsightFinding] {
        guard let organization = try await store.organization(id: organizationID) else {
            throw TallyError.notFound("organization")
        }
        let settings = try await store.insightSettings(organizationID: organizationID)
        let input = try await input(organization, at: now, batchFeatures: settings.batchFeatures)
        let findings = InsightEngine.findings(
            input, settings: settings,
            pricing: CatalogInsightPricing(pricer: pricer, organizationID: organizationID, at: now))
        try await store.recordInsights(
            organizationID: organizationID,
            findings: findings.map {
                Insight(
                    id: InsightEngine.id(organizationID: organizationID, key: $0.key), organizationID: organizationID,
                    finding: $0, status: .new, firstSeen: now, lastSeen: now)
            }, at: now)
        return findings
    }

    /// Every organization whose insights were not computed within `maxAge`; one that fails is reported and skipped.
    public func computeStale(at now: Instant, maxAge: Duration, onError: (String, any Error) -> Void) async throws
        -> Int
    {
        var computed = 0
        for id in try await store.organizationIDs() {
            do {
                if let last = try await store.insightsComputedAt(organizationID: id),
                    now.microseconds - last.microseconds < maxAge.components.seconds * 1_000_000
                {
                    continue
                }
                try await compute(organizationID: id, at: now)
                computed += 1
            } catch {
                onError(id, error)
            }
        }
        return computed
    }

    public func dismiss(organizationID: String, id: String, actor: String, at now: Instant = .now) async throws
        -> Insight
    {
        try await store.dismissInsight(
            organizationID: organizationID, id: id,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "insight.dismiss",
                detail: [("insight", .string(id))], at: now))
    }

    public func saveSettings(_ settings: InsightSettings, organizationID: String, actor: String) async throws {
        try await store.saveInsightSettings(
            organizationID: organizationID, settings,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "insight_settings.update",
                detail: [("settings", try JSONParser.parse(Array(settings.json.utf8)))]))
    }

    /// The four windows (whole local days ending at the start of today) and the batch-able features' active days.
    func input(_ organization: Organization, at now: Instant, batchFeatures: [String]) async throws -> InsightInput {
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let today = zone.localDate(of: now)
        func rows(days: Int, back: Int) async throws -> [InsightUsageRow] {
            let from = today.addingDays(Int64(-days * (back + 1))), to = today.addingDays(Int64(-days * back))
            let result = try await store.summary(
                SummaryQuery(
                    organizationID: organization.id, from: zone.startOfDay(from), to: zone.startOfDay(to),
                    timeZone: zone, grain: nil, dimensions: [.provider, .model, .project, .feature, .status],
                    filters: [:]))
            return result.groups.map { g in
                InsightUsageRow(
                    provider: (g.values[.provider] ?? nil) ?? "", model: (g.values[.model] ?? nil) ?? "",
                    projectID: (g.values[.project] ?? nil) ?? "", feature: g.values[.feature] ?? nil,
                    failed: (g.values[.status] ?? nil) == EventStatus.error.rawValue, metrics: g.metrics)
            }
        }
        var activeDays: [String: Int] = [:]
        if !batchFeatures.isEmpty {
            let daily = try await store.summary(
                SummaryQuery(
                    organizationID: organization.id, from: zone.startOfDay(today.addingDays(-30)),
                    to: zone.startOfDay(today), timeZone: zone, grain: .day, dimensions: [.feature],
                    filters: [.feature: batchFeatures]))
            for group in daily.groups where group.metrics.cost > .zero {
                if let feature = group.values[.feature] ?? nil { activeDays[feature, default: 0] += 1 }
            }
        }
        let names = Dictionary(
            try await store.projects(organizationID: organization.id).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
        var input = InsightInput(
            today: today, last30: try await rows(days: 30, back: 0), previous30: try await rows(days: 30, back: 1),
            last7: try await rows(days: 7, back: 0), previous7: try await rows(days: 7, back: 1),
            activeDays: activeDays, projectNames: names)
        input.answerFlags7 = try await store.flagCounts(
            FlagQuery(
                organizationID: organization.id, from: zone.startOfDay(today.addingDays(-7)),
                to: zone.startOfDay(today), filters: [.source: [EventSource.gateway.rawValue]], byFeature: true))
        return input
    }
}

/// Prices token profiles with the catalog in force and the organization's own entries, as events are priced.
struct CatalogInsightPricing: InsightPricing {
    let pricer: CatalogPricer
    let organizationID: String
    let at: Instant

    func cost(provider: String, model: String, usage: UsageMetrics) -> USD? {
        var tokens = TokenUsage()
        tokens.requests = usage.requests
        for c in TokenClass.counts { tokens[c] = usage[c] }
        let event = UsageEvent(id: "insight", timestamp: at, provider: provider, model: model, usage: tokens)
        // A sum of many requests cannot choose a long-context tier: priced as ordinary requests.
        return pricer.quote(event, organizationID: organizationID, longContext: false)?.cost
    }

    func models(provider: String) -> [String] {
        let entries = pricer.catalog.entries + pricer.organizationEntries(organizationID)
        let names = entries.filter {
            $0.provider == provider && $0.isEffective(at: at) && $0.prices.rates[.input] != nil
                && $0.prices.rates[.output] != nil
        }.map(\.model)
        return Array(Set(names)).sorted()
    }
}
