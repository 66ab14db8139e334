import TallyCore
import TallyForecast

/// Anomalies: days whose cost falls outside the band `Forecaster.expected` gives them (p1–p99, forecast from the days
/// before only) AND differs from its p50 by more than the spike rule's floor (`AlertRules.spike.floor`), for the
/// organization within the request's filters and for each of the largest values of project, feature, model and API
/// key. Today is partial: it counts only when already above its band (a partial day is not unusually low).
///
/// Each anomaly names its contributors: the values of model, feature, API key and project (other than the scope's own
/// dimension) whose cost that day moved most from their usual day, the median of the same weekday over the 4 weeks
/// before, with their deltas.
extension ForecastService {
    /// The longest range of days one request judges.
    public static var anomalyRangeDays: Int { 92 }
    /// Days before `from` the expected bands are forecast from.
    static var anomalyHistoryDays: Int { 56 }
    /// The values judged per dimension: the largest spend over the range first.
    static var anomalyValuesPerDimension: Int { 5 }
    static var anomalyDimensions: [UsageDimension] { [.project, .feature, .model, .apiKey] }
    static var contributorsShown: Int { 5 }
    /// Weeks of the same weekday a contributor's usual day is the median of.
    static var baselineWeeks: Int { 4 }

    /// Oldest first; on one day the organization first, then by dimension and value.
    public func anomalies(_ request: AnomalyRequest) async throws -> [Anomaly] {
        guard request.from <= request.to else {
            throw TallyError.invalid([FieldProblem(field: "from", reason: "must not be after 'to'")])
        }
        guard request.to.daysSinceEpoch - request.from.daysSinceEpoch < Int64(Self.anomalyRangeDays) else {
            throw TallyError.invalid([
                FieldProblem(field: "from", reason: "the range may span at most \(Self.anomalyRangeDays) days")
            ])
        }
        guard let organization = try await store.organization(id: request.organizationID) else {
            throw TallyError.notFound("organization")
        }
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let today = zone.localDate(of: request.now)
        let last = min(request.to, today)
        guard request.from <= last else { return [] }
        let floor = try await store.alertRules(organizationID: organization.id).spike.floor
        let start = request.from.addingDays(Int64(-Self.anomalyHistoryDays))
        let end = last.addingDays(1)
        let judge = Judge(from: request.from, today: today, floor: floor)

        var found: [(scope: (UsageDimension, String)?, day: ExpectedDay)] = []
        let total = try await dailySeries(
            organizationID: organization.id, zone: zone, from: start, to: end, filters: request.filters)
        found += judge.unusual(total).map { (nil, $0) }
        for dimension in Self.anomalyDimensions where request.filters[dimension]?.count != 1 {
            let perValue: [String: DailySeries]
            do {
                perValue = try await largestValues(
                    dimension, organizationID: organization.id, zone: zone, from: start, to: end,
                    filters: request.filters)
            } catch TallyError.tooManyGroups {
                continue  // Ingested values past the summary's limit: this dimension is not judged (as spikes).
            }
            for (value, series) in perValue.sorted(by: { $0.key < $1.key }) {
                found += judge.unusual(series).map { ((dimension, value), $0) }
            }
        }
        var anomalies: [Anomaly] = []
        var explainer = Explainer(service: self, organizationID: organization.id, zone: zone)
        for (scope, day) in found {
            var filters = request.filters
            if let (dimension, value) = scope { filters[dimension] = [value] }
            anomalies.append(
                Anomaly(
                    day: day.day, dimension: scope?.0, value: scope?.1, cost: day.actual, expected: day.band,
                    contributors: try await explainer.contributors(
                        day: day.day, filters: filters, except: scope?.0, range: (request.from, last))))
        }
        let order = [nil] + Self.anomalyDimensions.map(Optional.some)
        return anomalies.sorted { a, b in
            if a.day != b.day { return a.day < b.day }
            let (x, y) = (order.firstIndex(of: a.dimension) ?? 0, order.firstIndex(of: b.dimension) ?? 0)
            return x != y ? x < y : (a.value ?? "") < (b.value ?? "")
        }
    }

    /// Which days of a series are unusual.
    struct Judge {
        var from: CivilDate
        var today: CivilDate
        var floor: USD

        func unusual(_ series: DailySeries) -> [ExpectedDay] {
            let index = Int(from.daysSinceEpoch - series.start.daysSinceEpoch)
            return Forecaster.expected(series, from: index).filter { day in
                let band = day.band
                let above = day.actual > band.p99
                let outside = above || (day.day < today && day.actual < band.p1)
                let apart = day.actual > band.p50 ? day.actual - band.p50 : band.p50 - day.actual
                return outside && apart > floor
            }
        }
    }

    /// The daily series of the dimension's values with the largest spend over `[from, to)` (values the events lack
    /// are left out). Throws `tooManyGroups` when the dimension has more values than a summary holds.
    func largestValues(
        _ dimension: UsageDimension, organizationID: String, zone: TimeZoneRules, from: CivilDate, to: CivilDate,
        filters: DimensionFilters
    ) async throws -> [String: DailySeries] {
        let range = (zone.startOfDay(from), zone.startOfDay(to))
        let totals = try await store.summary(
            SummaryQuery(
                organizationID: organizationID, from: range.0, to: range.1, timeZone: zone, grain: nil,
                dimensions: [dimension], filters: filters))
        let largest = totals.groups.compactMap { g -> (String, USD)? in
            guard let value = g.values[dimension] ?? nil, !value.isEmpty else { return nil }
            return (value, g.metrics.cost)
        }
        .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(Self.anomalyValuesPerDimension).map(\.0)
        guard !largest.isEmpty else { return [:] }
        var narrowed = filters
        narrowed[dimension] = largest
        let daily = try await store.summary(
            SummaryQuery(
                organizationID: organizationID, from: range.0, to: range.1, timeZone: zone, grain: .day,
                dimensions: [dimension], filters: narrowed))
        let count = Int(to.daysSinceEpoch - from.daysSinceEpoch)
        var series = Dictionary(uniqueKeysWithValues: largest.map { ($0, [USD](repeating: .zero, count: count)) })
        for g in daily.groups {
            guard let value = g.values[dimension] ?? nil, let label = g.period, let day = CivilDate(parsing: label)
            else { continue }
            let index = Int(day.daysSinceEpoch - from.daysSinceEpoch)
            if series[value]?.indices.contains(index) == true { series[value]?[index] += g.metrics.cost }
        }
        return series.mapValues { DailySeries(start: from, values: $0) }
    }

    /// Contributors of anomaly days, reading each (scope, dimension)'s daily costs once per request.
    struct Explainer {
        let service: ForecastService
        let organizationID: String
        let zone: TimeZoneRules
        /// Per scope's filters and dimension: cost per value and day (nil: too many values to read).
        var read: [String: [String: [CivilDate: USD]]?] = [:]

        init(service: ForecastService, organizationID: String, zone: TimeZoneRules) {
            self.service = service
            self.organizationID = organizationID
            self.zone = zone
        }

        mutating func contributors(
            day: CivilDate, filters: DimensionFilters, except: UsageDimension?, range: (CivilDate, CivilDate)
        ) async throws -> [AnomalyContributor] {
            var all: [AnomalyContributor] = []
            for dimension in [UsageDimension.model, .feature, .apiKey, .project] where dimension != except {
                guard let costs = try await costs(dimension, filters: filters, range: range) else { continue }
                for (value, byDay) in costs {
                    let cost = byDay[day] ?? .zero
                    let usual = (1...ForecastService.baselineWeeks).map {
                        byDay[day.addingDays(Int64(-7 * $0))] ?? .zero
                    }
                    let baseline = Self.median(usual)
                    guard cost != baseline else { continue }
                    all.append(
                        AnomalyContributor(
                            dimension: dimension, value: value, cost: cost, baseline: baseline, delta: cost - baseline))
                }
            }
            return Array(
                all.sorted { a, b in
                    let (x, y) = (a.delta.nanos.magnitude, b.delta.nanos.magnitude)
                    if x != y { return x > y }
                    return a.dimension != b.dimension ? a.dimension < b.dimension : a.value < b.value
                }
                .prefix(ForecastService.contributorsShown))
        }

        /// The median (of an even count: the mean of the middle two, rounded down to the nano-dollar).
        static func median(_ values: [USD]) -> USD {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return .zero }
            let middle = sorted.count / 2
            if sorted.count % 2 == 1 { return sorted[middle] }
            return USD(nanos: sorted[middle - 1].nanos / 2 + sorted[middle].nanos / 2)
        }

        private mutating func costs(
            _ dimension: UsageDimension, filters: DimensionFilters, range: (CivilDate, CivilDate)
        ) async throws -> [String: [CivilDate: USD]]? {
            // Values hold no control characters (ingest and the API refuse them): \u{1} cannot collide.
            let key =
                ([dimension.rawValue] + filters.keys.sorted().flatMap { [$0.rawValue] + filters[$0, default: []] })
                .joined(separator: "\u{1}")
            if let known = read[key] { return known }
            let from = range.0.addingDays(Int64(-7 * ForecastService.baselineWeeks))
            var result: [String: [CivilDate: USD]]? = [:]
            do {
                let summary = try await service.store.summary(
                    SummaryQuery(
                        organizationID: organizationID, from: zone.startOfDay(from),
                        to: zone.startOfDay(range.1.addingDays(1)), timeZone: zone, grain: .day,
                        dimensions: [dimension], filters: filters))
                for g in summary.groups {
                    guard let value = g.values[dimension] ?? nil, !value.isEmpty, let label = g.period,
                        let day = CivilDate(parsing: label)
                    else { continue }
                    result?[value, default: [:]][day, default: .zero] += g.metrics.cost
                }
            } catch TallyError.tooManyGroups {
                result = nil  // Too many values to explain by: this dimension names no contributor.
            }
            read[key] = .some(result)
            return result
        }
    }
}
