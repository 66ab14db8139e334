import TallyCore
import Testing

@testable import TallyDocuments

/// The two formatting functions every document's figures go through, at their edges.
@Suite struct FiguresTests {
    func usd(_ text: String) -> USD { USD(decimal: text)! }

    @Test func shareRoundsHalfUpInTenths() {
        #expect(StatementFigures.share(usd("1"), of: usd("8")) == "12.5")
        #expect(StatementFigures.share(usd("1"), of: usd("3")) == "33.3")
        #expect(StatementFigures.share(usd("2"), of: usd("3")) == "66.7")
        // Exactly half a tenth rounds up; a hair below it rounds down.
        #expect(StatementFigures.share(USD(nanos: 1), of: USD(nanos: 2000)) == "0.1")
        #expect(StatementFigures.share(USD(nanos: 1), of: USD(nanos: 2001)) == "0.0")
        #expect(StatementFigures.share(USD(nanos: 9995), of: USD(nanos: 10000)) == "100.0")
        #expect(StatementFigures.share(USD(nanos: 9994), of: USD(nanos: 10000)) == "99.9")
        #expect(StatementFigures.share(usd("5"), of: usd("5")) == "100.0")
        #expect(StatementFigures.share(.zero, of: usd("5")) == "0.0")
        // Large amounts stay exact (Int64 × 1000 would overflow without Int128).
        #expect(StatementFigures.share(USD(nanos: .max / 2), of: USD(nanos: .max)) == "50.0")
        #expect(StatementFigures.share(USD(nanos: .max), of: USD(nanos: .max)) == "100.0")
    }

    @Test func shareOfNothingIsZero() {
        #expect(StatementFigures.share(.zero, of: .zero) == "0.0")
        #expect(StatementFigures.share(usd("3"), of: .zero) == "0.0")
    }

    @Test func negativeSharesMirrorPositiveOnes() {
        #expect(StatementFigures.share(usd("-1"), of: usd("8")) == "-12.5")
        #expect(StatementFigures.share(USD(nanos: -1), of: USD(nanos: 2000)) == "-0.1")
        // A share that rounds to zero has no sign.
        #expect(StatementFigures.share(USD(nanos: -1), of: USD(nanos: 2001)) == "0.0")
    }

    @Test func moneyShowsCentsForWholeCents() {
        #expect(StatementFigures.money(.zero) == "$0.00")
        #expect(StatementFigures.money(usd("1")) == "$1.00")
        #expect(StatementFigures.money(usd("0.01")) == "$0.01")
        #expect(StatementFigures.money(usd("1234.56")) == "$1,234.56")
        #expect(StatementFigures.money(usd("1234567.5")) == "$1,234,567.50")
        #expect(StatementFigures.money(usd("999")) == "$999.00")
        #expect(StatementFigures.money(usd("1000")) == "$1,000.00")
    }

    @Test func moneyShowsMoreDecimalsWhenNotAWholeCent() {
        #expect(StatementFigures.money(usd("0.000123")) == "$0.000123")
        #expect(StatementFigures.money(usd("0.005")) == "$0.005")
        #expect(StatementFigures.money(usd("0.0125")) == "$0.0125")
        #expect(StatementFigures.money(usd("12.345")) == "$12.345")
        #expect(StatementFigures.money(usd("812.34567")) == "$812.34567")
        #expect(StatementFigures.money(usd("0.10000001")) == "$0.10")
        // Past six decimals: rounded half up to the micro-dollar.
        #expect(StatementFigures.money(usd("45.678912345")) == "$45.678912")
        #expect(StatementFigures.money(usd("0.0000005")) == "$0.000001")
        #expect(StatementFigures.money(usd("0.000000499")) == "$0.00")
        #expect(StatementFigures.money(usd("0.009999999")) == "$0.01")
        #expect(StatementFigures.money(USD(nanos: 123_000)) == "$0.000123")
    }

    @Test func negativeMoneyHasTheSignFirst() {
        #expect(StatementFigures.money(usd("-1")) == "-$1.00")
        #expect(StatementFigures.money(usd("-1234.5")) == "-$1,234.50")
        #expect(StatementFigures.money(usd("-0.000123")) == "-$0.000123")
        #expect(StatementFigures.money(USD(nanos: -1)) == "$0.00")
        #expect(StatementFigures.money(USD(nanos: .min)) == "-$9,223,372,036.854776")
        #expect(StatementFigures.money(USD(nanos: .max)) == "$9,223,372,036.854776")
    }

    @Test func changesNameTheDifferenceAndThePercentage() {
        #expect(StatementFigures.change(usd("110"), from: usd("100")) == "+$10.00 (+10.0%)")
        #expect(StatementFigures.change(usd("90"), from: usd("100")) == "-$10.00 (-10.0%)")
        #expect(StatementFigures.change(usd("5"), from: .zero) == "+$5.00")
        #expect(StatementFigures.change(usd("5"), from: usd("5")) == "no change")
        #expect(StatementFigures.change(Int64(1_500), from: 1_000) == "+500 (+50.0%)")
        #expect(StatementFigures.change(Int64.min, from: Int64.max).hasPrefix("-9,223,372,036,854,775,808"))
        #expect(StatementFigures.count(-1_234_567) == "-1,234,567")
    }

    @Test func chartGridlinesAreRoundAndThreeOrFour() {
        for peak: Int64 in [
            3_000, 999_999, 1_000_000_000, 2_100_000_000, 4_500_000_000, 80_123_000_000, 812_345_670_000,
        ] {
            let step = StatementChart.gridStep(peak: peak)
            let lines = (peak + step - 1) / step
            #expect((3...4).contains(lines), "peak \(peak): step \(step) gives \(lines) gridlines")
            #expect(step % 1000 == 0)
        }
        #expect(StatementChart.gridStep(peak: 80_123_000_000) == 25_000_000_000)
        #expect(StatementChart.gridStep(peak: .max) > 0)
    }

    @Test func timesNameTheZoneAndItsOffset() {
        let at = Instant(rfc3339: "2026-11-20T13:03:07.250Z")!
        #expect(DocumentTime(zone: "Europe/Paris").dateTime(at) == "2026-11-20 14:03:07 Europe/Paris (UTC+01:00)")
        #expect(
            DocumentTime(zone: "America/St_Johns").dateTime(at) == "2026-11-20 09:33:07 America/St_Johns (UTC-03:30)")
        #expect(DocumentTime(zone: "Asia/Tokyo").date(Instant(rfc3339: "2026-11-30T16:00:00Z")!) == "2026-12-01")
        // An unknown zone falls back to UTC and says so.
        #expect(DocumentTime(zone: "Mars/Olympus").dateTime(at) == "2026-11-20 13:03:07 UTC (UTC+00:00)")
        // Before 1970 too (floor division).
        #expect(DocumentTime(zone: "UTC").dateTime(Instant(seconds: -1)) == "1969-12-31 23:59:59 UTC (UTC+00:00)")
    }

    @Test func cleaningLeavesOneVisibleLine() {
        #expect(DocumentText.clean("a\u{0}b\u{1}c\u{7F}d\u{9B}e") == "abcde")
        #expect(DocumentText.clean("line\r\nbreak\ttab") == "line break tab")
        #expect(DocumentText.clean("\u{202E}evil\u{202C}") == "evil")
        #expect(DocumentText.clean("\u{0}\u{1}  ") == "—")
        #expect(DocumentText.clean(String(repeating: "x", count: 10_000)).count == DocumentText.maximumLength + 1)
        #expect(DocumentText.clean("経理チーム 🚀") == "経理チーム 🚀")
        #expect(DocumentText.displayWidth("経理") == 4)
        #expect(DocumentText.truncated("経理チームの予算", columns: 7) == "経理チ…")
    }

    @Test func base64DecodesAndRefusesDamage() {
        #expect(Base64.decode("") == [])
        #expect(Base64.decode("Zg==") == Array("f".utf8))
        #expect(Base64.decode("Zm8=") == Array("fo".utf8))
        #expect(Base64.decode("Zm9v\nYmFy\r\n") == Array("foobar".utf8))
        #expect(Base64.decode("+/8=") == [0xFB, 0xFF])
        #expect(Base64.decode("Zm9") == nil)
        #expect(Base64.decode("Zm9v!") == nil)
        #expect(Base64.decode("Zg==Zg==") == nil)
        #expect(Base64.decode("Z===") == nil)
    }
}
