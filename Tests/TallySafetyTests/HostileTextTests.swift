import TallySafety
import Testing

/// Hostile texts of 1 MiB must finish (linear scans) and must not crash; the expected counts make each run check
/// something concrete.
@Suite struct HostileTextTests {
    static let mebibyte = 1 << 20

    static func counts(_ text: String) -> [Detector: Int] {
        var counts: [Detector: Int] = [:]
        for detector in Detector.allCases { counts[detector] = detector.matches(in: text).count }
        return counts
    }

    static let nothing: [Detector: Int] = Dictionary(uniqueKeysWithValues: Detector.allCases.map { ($0, 0) })

    /// Each hostile text by name (a name keeps the test output short).
    static let hostileTexts: [String: String] = [
        "digits": String(repeating: "7", count: mebibyte),
        "at signs": String(repeating: "@", count: mebibyte),
        "a@": String(repeating: "a@", count: mebibyte / 2),
        "BEGIN": String(repeating: "-----BEGIN ", count: mebibyte / 11),
        "one-digit groups": String(repeating: "4 ", count: mebibyte / 2),
        "dotted digits": String(repeating: "1.", count: mebibyte / 2),
        "colons": String(repeating: "a:", count: mebibyte / 2),
        "sk-": String(repeating: "sk-", count: mebibyte / 3),
        "eyJ.": String(repeating: "eyJ.", count: mebibyte / 4),
        "country codes": String(repeating: "DE89", count: mebibyte / 4),
        "multibyte": String(repeating: "é😀", count: mebibyte / 6),
    ]

    @Test(arguments: hostileTexts.keys.sorted())
    func finishesWithNoMatch(name: String) {
        #expect(Self.counts(Self.hostileTexts[name]!) == Self.nothing)
    }

    @Test func manyUnterminatedKeyHeadersEachRedactOnce() {
        let header = "-----BEGIN RSA PRIVATE KEY-----\n"
        let text = String(repeating: header, count: Self.mebibyte / header.utf8.count)
        #expect(Detector.secret.matches(in: text).count == Self.mebibyte / header.utf8.count)
    }

    @Test func manyRealMatchesAreAllFound() {
        let text = String(repeating: "mail a@b.io or call +1 415 555 0100; ", count: 20_000)
        #expect(Detector.email.matches(in: text).count == 20_000)
        #expect(Detector.phone.matches(in: text).count == 20_000)
    }

    @Test func aLongHostileBodyStaysWithinBudget() throws {
        let rule = SafetyRule(
            name: "nested", patterns: [try BoundedRegex("(\\w+\\s?)+$"), try BoundedRegex("(a|a)*b")],
            side: .both, action: .flag)
        var budget = ScanBudget(steps: 200_000)
        let verdict = SafetyScan.judge(
            [String(repeating: "a", count: Self.mebibyte)], side: .request, rules: [rule], budget: &budget)
        #expect(verdict == SafetyVerdict(incomplete: true))
        #expect(budget.remaining == 0)
    }
}
