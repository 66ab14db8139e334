import Testing

@testable import TallyCore

#if canImport(Glibc)
    import Glibc
#endif

/// The injected test clock (TALLY_CLOCK_OFFSET_SECONDS, issue 25): scripts/test-at-clock runs the suites with it set,
/// so these hold with and without it.
@Suite struct InjectedClockTests {
    private static func realMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    /// Fails if `now` ignores the offset (the shifted suite would then test the real hour again).
    @Test func nowIsTheRealClockShiftedByTheOffset() {
        let before = Self.realMicroseconds()
        let now = Instant.now.microseconds
        let after = Self.realMicroseconds()
        let offset = Instant.clockOffsetSeconds * 1_000_000
        #expect(before + offset <= now && now <= after + offset)
    }

    /// Fails if the offset is not the one in this process's environment (read under another name, or not at all).
    @Test func theOffsetComesFromTheEnvironment() {
        let text = getenv("TALLY_CLOCK_OFFSET_SECONDS").map { String(cString: $0) } ?? ""
        #expect(Instant.clockOffsetSeconds == (text.isEmpty ? 0 : Int64(text)))
    }

    @Test(arguments: [
        (String?.none, Int64(0)), ("", 0), ("0", 0), ("-3600", -3600), ("2592000", 2_592_000),
        ("3155760000", 3_155_760_000), ("-3155760000", -3_155_760_000),
    ])
    func acceptsWholeSeconds(text: String?, seconds: Int64) throws {
        #expect(try Instant.parseClockOffset(text).get() == seconds)
    }

    /// Fractions, units, spaces and offsets beyond 100 years (which could overflow microseconds) are refused.
    @Test(arguments: ["1.5", "1h", "abc", " 5", "5 ", "3155760001", "-3155760001", "9223372036854775807", "--1"])
    func refusesAnythingElse(text: String) {
        #expect(throws: Instant.ClockOffsetProblem.self) { try Instant.parseClockOffset(text).get() }
    }
}
