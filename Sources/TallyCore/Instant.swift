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
    public static var now: Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }
}
