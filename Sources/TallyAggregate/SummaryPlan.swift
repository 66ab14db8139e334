import TallyCore

/// How to answer a summary: which hours come from a rollup table and which stretches from raw events.
///
/// Whole UTC hours that lie entirely inside one period come from the rollup; the rest (a range that starts or
/// ends mid-hour, a local midnight that is not on the hour in zones such as Asia/Kolkata) from raw events,
/// so every answer is exact and only minutes of raw events are ever scanned.
public struct SummaryPlan: Sendable, Equatable {
    /// Hours `[startHour, endHour)` from a rollup table. When grouped by time, the period of a row is found
    /// from its local day, `(hour * 3600 + offsetSeconds) / 86400`, which is constant over the range.
    public struct RollupRange: Sendable, Equatable {
        public var startHour: Int64
        public var endHour: Int64
        public var offsetSeconds: Int64
    }

    /// Raw events in `[start, end)`, all in the one period `period`.
    public struct RawRange: Sendable, Equatable {
        public var start: Instant
        public var end: Instant
        public var period: String?
    }

    /// nil when no rollup table has every needed dimension: then everything comes from raw events.
    public var table: RollupTable?
    public var rollupRanges: [RollupRange]
    public var rawRanges: [RawRange]

    public init(_ query: SummaryQuery) {
        let needed = Set(query.dimensions).union(query.filters.keys)
        table = RollupTable.covering(needed)
        rollupRanges = []
        rawRanges = []
        for period in Self.periods(query) {
            let firstHour = ceilDiv(period.start.microseconds, Instant.microsecondsPerHour)
            let endHour = floorDiv(period.end.microseconds, Instant.microsecondsPerHour)
            guard table != nil, firstHour < endHour else {
                rawRanges.append(RawRange(start: period.start, end: period.end, period: period.label))
                continue
            }
            let firstInstant = Instant(microseconds: firstHour * Instant.microsecondsPerHour)
            let endInstant = Instant(microseconds: endHour * Instant.microsecondsPerHour)
            if period.start < firstInstant {
                rawRanges.append(RawRange(start: period.start, end: firstInstant, period: period.label))
            }
            if endInstant < period.end {
                rawRanges.append(RawRange(start: endInstant, end: period.end, period: period.label))
            }
            addRollupHours(firstHour, endHour, zone: query.timeZone)
        }
    }

    /// Adds hours, split where the zone's offset changes and merged with the previous range when contiguous.
    private mutating func addRollupHours(_ start: Int64, _ end: Int64, zone: TimeZoneRules) {
        var hour = start
        while hour < end {
            let instant = Instant(microseconds: hour * Instant.microsecondsPerHour)
            let offset = zone.offsetSeconds(at: instant)
            var stop = end
            if let next = zone.nextTransition(after: instant) {
                stop = min(end, max(hour + 1, ceilDiv(next.microseconds, Instant.microsecondsPerHour)))
            }
            if var last = rollupRanges.last, last.endHour == hour, last.offsetSeconds == offset {
                last.endHour = stop
                rollupRanges[rollupRanges.count - 1] = last
            } else {
                rollupRanges.append(RollupRange(startHour: hour, endHour: stop, offsetSeconds: offset))
            }
            hour = stop
        }
    }

    struct Period { var start: Instant; var end: Instant; var label: String? }

    /// The query's range cut at local period boundaries; one period when not grouped by time.
    static func periods(_ query: SummaryQuery) -> [Period] {
        guard query.from < query.to else { return [] }
        guard let grain = query.grain else { return [Period(start: query.from, end: query.to, label: nil)] }
        var result: [Period] = []
        var date = PeriodLabel.start(of: query.timeZone.localDate(of: query.from), grain: grain)
        while true {
            let next = PeriodLabel.next(after: date, grain: grain)
            let start = max(query.from, query.timeZone.startOfDay(date))
            let end = min(query.to, query.timeZone.startOfDay(next))
            if start < end { result.append(Period(start: start, end: end, label: PeriodLabel.label(date, grain: grain))) }
            if end >= query.to { break }
            date = next
        }
        return result
    }
}

/// Period labels: `2026-11-20` for a day, the week's Monday for a week, `2026-11` for a month.
public enum PeriodLabel {
    public static func start(of date: CivilDate, grain: TimeGrain) -> CivilDate {
        switch grain {
        case .day: date
        case .week: CivilDate(daysSinceEpoch: date.daysSinceEpoch - Int64(date.isoWeekday - 1))
        case .month: CivilDate(year: date.year, month: date.month, day: 1)
        }
    }

    public static func next(after start: CivilDate, grain: TimeGrain) -> CivilDate {
        switch grain {
        case .day: CivilDate(daysSinceEpoch: start.daysSinceEpoch + 1)
        case .week: CivilDate(daysSinceEpoch: start.daysSinceEpoch + 7)
        case .month: start.month == 12 ? CivilDate(year: start.year + 1, month: 1, day: 1)
            : CivilDate(year: start.year, month: start.month + 1, day: 1)
        }
    }

    public static func label(_ date: CivilDate, grain: TimeGrain) -> String {
        let start = start(of: date, grain: grain)
        return grain == .month ? String(start.description.prefix(7)) : start.description
    }

    public static func label(localDay: Int64, grain: TimeGrain) -> String {
        label(CivilDate(daysSinceEpoch: localDay), grain: grain)
    }
}

func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 { -floorDiv(-a, b) }
