import Testing

@testable import TallyCore

@Suite struct MoneyTests {
    @Test(arguments: [
        ("0.0125", Int64(12_500_000)), ("3", 3_000_000_000), ("0.000000001", 1), ("12.5", 12_500_000_000),
    ])
    func parsesExactDecimals(text: String, nanos: Int64) {
        #expect(USD(decimal: text)?.nanos == nanos)
        #expect(USD(nanos: nanos).decimalString == text)
    }

    @Test(arguments: ["", "1.", ".5", "1e3", "0.0000000001", "abc", "1,5"])
    func rejectsNonDecimals(text: String) {
        #expect(USD(decimal: text) == nil)
    }

    /// More dollars than Int64 nano-dollars hold (9,223,372,036.854775807) is no amount, not a crash.
    @Test func amountsBeyondInt64AreRejectedNotTrapped() {
        #expect(USD(decimal: "9223372036.854775807")?.nanos == Int64.max)
        #expect(USD(decimal: "9223372036.854775808") == nil)
        #expect(USD(decimal: "9766439370") == nil)
        #expect(USD(decimal: "-9999999999.999999999") == nil)
        #expect(USD(literal: "999999999999999999999999999999e11") == nil)
        #expect(USD(literal: "9223372036.854775807")?.nanos == Int64.max)
    }

    /// The smallest Int exponent has no absolute value: `abs` trapped on it (reachable with a GET of
    /// /api/v1/reconciliation?threshold_percent=1e-9223372036854775808, and from a provider's cost report).
    @Test func exponentsAtTheEdgesOfIntAreRejectedNotTrapped() {
        #expect(USD(literal: "1e-9223372036854775808") == nil)
        #expect(USD(literal: "1e9223372036854775807") == nil)
        #expect(USD(literal: "1e-41") == nil)
        #expect(USD(literal: "25e-1")?.nanos == 2_500_000_000)
    }

    @Test func sumsAreExact() {
        // 0.1 added ten times is exactly 1 (it is not in binary floating point).
        let total = (0..<10).reduce(USD.zero) { sum, _ in sum + USD(decimal: "0.1")! }
        #expect(total.decimalString == "1")
    }
}

@Suite struct TimeTests {
    @Test func parsesRFC3339WithOffsetsAndFractions() {
        #expect(Instant(rfc3339: "2026-11-20T10:15:00Z")?.rfc3339 == "2026-11-20T10:15:00Z")
        #expect(Instant(rfc3339: "2026-11-20T11:15:00+01:00") == Instant(rfc3339: "2026-11-20T10:15:00Z"))
        #expect(Instant(rfc3339: "2026-11-20T10:15:00.5Z")?.rfc3339 == "2026-11-20T10:15:00.500Z")
        #expect(
            Instant(rfc3339: "2026-11-20T10:15:00.123456789Z")?.microseconds
                == Instant(rfc3339: "2026-11-20T10:15:00.123456Z")?.microseconds)
        for bad in ["2026-11-20", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-20T10:15:00", "yesterday"] {
            #expect(Instant(rfc3339: bad) == nil, "\(bad)")
        }
    }

    @Test func civilDatesRoundTrip() {
        for days in stride(from: Int64(-800), to: 30_000, by: 37) {
            #expect(CivilDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        #expect(CivilDate(year: 2026, month: 11, day: 23).isoWeekday == 1)
        #expect(CivilDate(parsing: "2024-02-29") != nil)
        #expect(CivilDate(parsing: "2025-02-29") == nil)
    }

    @Test func localMidnightAcrossDaylightSaving() throws {
        let berlin = try #require(TimeZoneRules(identifier: "Europe/Berlin"))
        #expect(berlin.startOfDay(CivilDate(year: 2026, month: 3, day: 29)).rfc3339 == "2026-03-28T23:00:00Z")
        #expect(berlin.startOfDay(CivilDate(year: 2026, month: 3, day: 30)).rfc3339 == "2026-03-29T22:00:00Z")
        let kolkata = try #require(TimeZoneRules(identifier: "Asia/Kolkata"))
        #expect(kolkata.startOfDay(CivilDate(year: 2026, month: 11, day: 20)).rfc3339 == "2026-11-19T18:30:00Z")
        // Where daylight saving starts at midnight, 00:00 does not exist: the day begins at 01:00, the transition.
        // America/Santiago: 2026-09-05 23:59:59 -04 is followed by 2026-09-06 01:00 -03 (04:00Z).
        let santiago = try #require(TimeZoneRules(identifier: "America/Santiago"))
        #expect(santiago.startOfDay(CivilDate(year: 2026, month: 9, day: 6)).rfc3339 == "2026-09-06T04:00:00Z")
        #expect(santiago.startOfDay(CivilDate(year: 2026, month: 9, day: 7)).rfc3339 == "2026-09-07T03:00:00Z")
        // Its fall-back repeats 23:00-24:00 of 04-04; midnight of 04-05 happens once, at 00:00 -04.
        #expect(santiago.startOfDay(CivilDate(year: 2026, month: 4, day: 5)).rfc3339 == "2026-04-05T04:00:00Z")
        // America/Havana: 2026-03-07 23:59:59 -05 is followed by 2026-03-08 01:00 -04 (05:00Z).
        let havana = try #require(TimeZoneRules(identifier: "America/Havana"))
        #expect(havana.startOfDay(CivilDate(year: 2026, month: 3, day: 8)).rfc3339 == "2026-03-08T05:00:00Z")
        // Asia/Beirut, east of UTC: 2026-03-28 23:59:59 +02 is followed by 2026-03-29 01:00 +03 (22:00Z).
        let beirut = try #require(TimeZoneRules(identifier: "Asia/Beirut"))
        #expect(beirut.startOfDay(CivilDate(year: 2026, month: 3, day: 29)).rfc3339 == "2026-03-28T22:00:00Z")
    }
}

@Suite struct JSONTests {
    @Test func parsesAndKeepsNumbersExact() throws {
        let v = try JSONParser.parse(Array(#"{"a":[1,2.50,"x\u00e9\n"],"b":null,"c":true,"d":12345678901234567}"#.utf8))
        #expect(v["a"] == .array([.number("1"), .number("2.50"), .string("xé\n")]))
        #expect(v["d"] == .number("12345678901234567"))
        #expect(v["b"] == .null)
    }

    @Test(arguments: ["{", "[1,]", "{\"a\":1}x", "\"\\x\"", "{'a':1}", "01", "[1 2]", "\"\u{01}\""])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func writerEscapes() {
        var w = JSONWriter()
        w.beginObject()
        w.field("q", "a\"b\\c\n\u{01}")
        w.field("n", nil as String?)
        w.endObject()
        #expect(w.text == #"{"q":"a\"b\\c\n\u0001","n":null}"#)
    }
}
