import TallyAggregate
import TallyCore
import TallyPrice
import TallyProviders

/// Reads the provider ledger in the summary's shape, and reconciles it with the observed ledger.
/// The two ledgers are never summed: a call seen by Tally and reported by the provider is in each once.
/// What the ledger reads: connections, the providers' reports, projects (names) and Tally's own usage.
package typealias LedgerServiceStore = ConnectionStore & ProviderSyncStore & ProjectStore & UsageStore

package struct LedgerService<Store: LedgerServiceStore>: Sendable {
    package let store: Store
    package let pricer: CatalogPricer

    package init(store: Store, pricer: CatalogPricer) {
        self.store = store
        self.pricer = pricer
    }

    /// The catalog's name for a model ("gpt-4o-mini-2024-07-18" → "gpt-4o-mini"), so both ledgers group alike.
    package func canonical(_ provider: String, _ model: String, at: Instant, org: String) -> String {
        pricer.resolve(provider: provider, model: model, at: at, organizationID: org)?.1 ?? model
    }

    package func summary(
        org: String, from: Instant, to: Instant, grain: TimeGrain?, dimensions: [UsageDimension],
        filters: DimensionFilters
    ) async throws -> SummaryResult {
        var usage: [ProviderLedger.UsageInput] = []
        var costs: [ProviderLedger.CostInput] = []
        for c in try await store.connections(organizationID: org) where c.provider.api.organizationReports != nil {
            for item in try await store.providerUsage(organizationID: org, connectionID: c.id, from: from, to: to) {
                usage.append(ProviderLedger.UsageInput(connectionID: c.id, provider: c.provider, row: item.row))
            }
            for item in try await store.providerCosts(organizationID: org, connectionID: c.id, from: from, to: to) {
                costs.append(ProviderLedger.CostInput(connectionID: c.id, provider: c.provider, row: item.row))
            }
        }
        let mappings = try await store.providerProjectMappings(organizationID: org)
        let names = Dictionary(
            try await store.projects(organizationID: org).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        // Project filters arrive as Tally project ids; the ledger groups by project name ("unassigned" when unmapped).
        var filters = filters
        if let ids = filters[.project] { filters[.project] = ids.map { names[$0] ?? $0 } }
        let pricer = self.pricer
        return try ProviderLedger.summary(
            usage: usage, costs: costs, grain: grain, dimensions: dimensions, filters: filters,
            projectName: { connection, ref in
                ref.flatMap { mappings[connection]?[$0] }.flatMap { names[$0] } ?? "unassigned"
            },
            canonicalModel: { provider, model in
                pricer.resolve(provider: provider, model: model, at: from, organizationID: org)?.1 ?? model
            })
    }

    /// Observed vs provider per UTC period and one dimension (model or project).
    package func reconcile(
        organizationID org: String, from: Instant, to: Instant, grain: TimeGrain?, dimension: UsageDimension?,
        thresholdBasisPoints: Int64
    ) async throws -> [ProviderLedger.Line] {
        let dims = dimension.map { [$0] } ?? []
        let observedRaw = try await store.summary(
            SummaryQuery(
                organizationID: org, from: from, to: to, timeZone: .utc, grain: grain,
                dimensions: dims, filters: [:]))
        // Name the observed side as the provider side is named: canonical models, project names.
        let names = Dictionary(
            try await store.projects(organizationID: org).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        var observed = SummaryAccumulator(dimensions: dims)
        for g in observedRaw.groups {
            let value: String? = dimension.flatMap { d in
                guard let raw = g.values[d] ?? nil else { return nil }
                switch d {
                case .project: return names[raw] ?? raw
                case .model: return canonical("", raw, at: from, org: org)
                default: return raw
                }
            }
            try observed.add(period: g.period, values: dimension == nil ? [] : [value], metrics: g.metrics)
        }
        let provider = try await summary(org: org, from: from, to: to, grain: grain, dimensions: dims, filters: [:])
        return try ProviderLedger.reconcile(
            observed: try observed.result(), provider: provider, dimension: dimension,
            thresholdBasisPoints: thresholdBasisPoints)
    }
}
