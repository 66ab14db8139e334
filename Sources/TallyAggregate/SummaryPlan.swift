import TallyCore

/// How to answer a summary: which UTC days come from a daily rollup, which hours from an hourly one, and which
/// stretches from raw events.
///
/// Within each period (the range cut at local day, week or month boundaries), whole UTC days come from the daily
/// table, whole UTC hours around them from the hourly table, and the rest (a range that starts or ends mid-hour, a
/// local midnight that is not on the hour in zones such as Asia/Kolkata) from raw events, so every answer is exact,
/// a month reads about thirty rows per key, and only minutes of raw events are ever scanned.
public struct SummaryPlan: Sendable, Equatable {
    /// Buckets `[start, end)` (UTC hours in `rollupRanges`, UTC days in `dayRanges`) of a rollup table. When grouped
    /// by time, a row's period is found from the local day of its bucket's start, `(start * unit + offsetSeconds) /
    /// 86400`, with the offset constant over the range; a bucket lies inside one period, so that day names it.
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
    /// UTC hours from `table`.
    public var rollupRanges: [RollupRange]
    /// UTC days (in `startHour`/`endHour`, counted in days) from `table.daily`.
    public var dayRanges: [RollupRange]
    public var rawRanges: [RawRange]

    static let microsecondsPerDay = 24 * Instant.microsecondsPerHour

    public init(_ query: SummaryQuery) {
        let needed = Set(query.dimensions).union(query.filters.keys)
        // No rollup keeps tags: grouping by one reads raw events.
        table = query.tagKeys.isEmpty ? RollupTable.covering(needed) : nil
        rollupRanges = []
        dayRanges = []
        rawRanges = []
        for period in Self.periods(query) {
            guard table != nil else {
                rawRanges.append(RawRange(start: period.start, end: period.end, period: period.label))
                continue
            }
            let firstDay = ceilDiv(period.start.microseconds, Self.microsecondsPerDay)
            let endDay = floorDiv(period.end.microseconds, Self.microsecondsPerDay)
            if firstDay < endDay {
                Self.add(&dayRanges, firstDay, endDay, unit: Self.microsecondsPerDay, zone: query.timeZone)
                addHours(
                    period.start, Instant(microseconds: firstDay * Self.microsecondsPerDay), period.label,
                    zone: query.timeZone)
                addHours(
                    Instant(microseconds: endDay * Self.microsecondsPerDay), period.end, period.label,
                    zone: query.timeZone)
            } else {
                addHours(period.start, period.end, period.label, zone: query.timeZone)
            }
        }
    }

    /// Whole hours of `[start, end)` from the hourly table, the minutes around them raw.
    private mutating func addHours(_ start: Instant, _ end: Instant, _ label: String?, zone: TimeZoneRules) {
        guard start < end else { return }
        let firstHour = ceilDiv(start.microseconds, Instant.microsecondsPerHour)
        let endHour = floorDiv(end.microseconds, Instant.microsecondsPerHour)
        guard firstHour < endHour else {
            rawRanges.append(RawRange(start: start, end: end, period: label))
            return
        }
        let firstInstant = Instant(microseconds: firstHour * Instant.microsecondsPerHour)
        let endInstant = Instant(microseconds: endHour * Instant.microsecondsPerHour)
        if start < firstInstant { rawRanges.append(RawRange(start: start, end: firstInstant, period: label)) }
        if endInstant < end { rawRanges.append(RawRange(start: endInstant, end: end, period: label)) }
        Self.add(&rollupRanges, firstHour, endHour, unit: Instant.microsecondsPerHour, zone: zone)
    }

    /// Adds buckets, split where the zone's offset changes and merged with the previous range when contiguous.
    private static func add(
        _ ranges: inout [RollupRange], _ start: Int64, _ end: Int64, unit: Int64, zone: TimeZoneRules
    ) {
        var bucket = start
        while bucket < end {
            let instant = Instant(microseconds: bucket * unit)
            let offset = zone.offsetSeconds(at: instant)
            var stop = end
            if let next = zone.nextTransition(after: instant) {
                stop = min(end, max(bucket + 1, ceilDiv(next.microseconds, unit)))
            }
            if var last = ranges.last, last.endHour == bucket, last.offsetSeconds == offset {
                last.endHour = stop
                ranges[ranges.count - 1] = last
            } else {
                ranges.append(RollupRange(startHour: bucket, endHour: stop, offsetSeconds: offset))
            }
            bucket = stop
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
            if start < end {
                result.append(Period(start: start, end: end, label: PeriodLabel.label(date, grain: grain)))
            }
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
        case .month:
            start.month == 12
                ? CivilDate(year: start.year + 1, month: 1, day: 1)
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
