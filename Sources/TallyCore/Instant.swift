#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point in time as integer microseconds since the Unix epoch (UTC).
///
/// Integers keep ordering, hashing and storage exact across SQLite and PostgreSQL.
public struct Instant: Hashable, Comparable, Sendable {
    public var microseconds: Int64
    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64) { self.microseconds = seconds * 1_000_000 }
    public static func < (a: Instant, b: Instant) -> Bool { a.microseconds < b.microseconds }

    public static let microsecondsPerHour: Int64 = 3_600_000_000
    /// Whole hours since the epoch: the rollup bucket this instant falls in.
    public var hour: Int64 { floorDiv(microseconds, Self.microsecondsPerHour) }
    public var seconds: Int64 { floorDiv(microseconds, 1_000_000) }
    public func adding(seconds s: Int64) -> Instant { Instant(microseconds: microseconds + s * 1_000_000) }
}

public func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension Instant {
    /// The wall clock. Every read of the date or time of day in Tally goes through here (monotonic `ContinuousClock`
    /// for timeouts and caches does not), so that tests can move it with `TALLY_CLOCK_OFFSET_SECONDS`.
    public static var now: Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000 + clockOffsetMicroseconds)
    }

    /// The variable of the injected test clock. A testing aid: never set it in production.
    public static let clockOffsetVariable = "TALLY_CLOCK_OFFSET_SECONDS"

    /// How far `now` is shifted from the real clock, in seconds: `TALLY_CLOCK_OFFSET_SECONDS`, read once per process.
    ///
    /// It exists so the test suite can prove it passes at any hour (issue 25): scripts/test-at-clock runs it as if it
    /// were, say, 30 s before the end of a year or just after midnight UTC. libfaketime hangs the Swift xctest runner,
    /// so the shift lives here instead. A value that is not a whole number of seconds within 100 years refuses to run:
    /// `tally` names it on stderr at start-up (TallyConfig.load), and any other process stops at its first clock read.
    public static let clockOffsetSeconds: Int64 = {
        let text = getenv(clockOffsetVariable).map { String(cString: $0) }
        switch parseClockOffset(text) {
        case .success(let seconds): return seconds
        case .failure(let problem): fatalError("\(clockOffsetVariable) \(problem.reason)")
        }
    }()

    private static let clockOffsetMicroseconds = clockOffsetSeconds * 1_000_000

    public struct ClockOffsetProblem: Error, Sendable { public var reason: String }

    /// Unset or empty: 0. Otherwise an integer number of seconds (may be negative) within ±100 years.
    public static func parseClockOffset(_ text: String?) -> Result<Int64, ClockOffsetProblem> {
        guard let text, !text.isEmpty else { return .success(0) }
        guard let seconds = Int64(text), (-3_155_760_000...3_155_760_000).contains(seconds) else {
            return .failure(
                ClockOffsetProblem(
                    reason:
                        "must be a whole number of seconds within ±100 years, such as -3600 or 2592000 (got \"\(text.prefix(40))\"); it shifts the clock for tests only"
                ))
        }
        return .success(seconds)
    }
}
