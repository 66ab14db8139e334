import Foundation

/// An IANA time zone's UTC offsets, used to turn local calendar days into UTC instants.
public struct TimeZoneRules: Sendable, Equatable {
    public let identifier: String
    private let zone: TimeZone

    public init?(identifier: String) {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        self.identifier = identifier
        self.zone = zone
    }

    public static let utc = TimeZoneRules(identifier: "UTC")!

    /// Seconds east of UTC in force at `instant`.
    public func offsetSeconds(at instant: Instant) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant.seconds))))
    }

    /// The next instant after `instant` at which the offset changes, if any.
    public func nextTransition(after instant: Instant) -> Instant? {
        guard
            let date = zone.nextDaylightSavingTimeTransition(
                after: Date(timeIntervalSince1970: TimeInterval(instant.seconds)))
        else { return nil }
        return Instant(seconds: Int64(date.timeIntervalSince1970.rounded()))
    }

    /// The instant local midnight of `date` begins (the first instant of that local day).
    public func startOfDay(_ date: CivilDate) -> Instant {
        let localSeconds = date.daysSinceEpoch * 86_400
        // The offset at the guessed instant may differ from the one at midnight near a transition:
        // one correction pass settles it for every real zone (transitions are hours apart).
        var guess = Instant(seconds: localSeconds - offsetSeconds(at: Instant(seconds: localSeconds)))
        guess = Instant(seconds: localSeconds - offsetSeconds(at: guess))
        // Where daylight saving starts at midnight (America/Santiago, America/Havana), 00:00 never happens and the
        // guess west of UTC lands an hour early, in the day before (09-05 23:00 -04 for Santiago's 09-06): that day
        // ran until the transition, so the transition is this day's first instant.
        if localDate(of: guess).daysSinceEpoch < date.daysSinceEpoch, let next = nextTransition(after: guess) {
            return next
        }
        return guess
    }

    /// The local calendar day that `instant` falls on.
    public func localDate(of instant: Instant) -> CivilDate {
        CivilDate(daysSinceEpoch: floorDiv(instant.seconds + offsetSeconds(at: instant), 86_400))
    }
}
