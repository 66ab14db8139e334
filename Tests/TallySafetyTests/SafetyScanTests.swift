import TallySafety
import Testing

@Suite struct SafetyScanTests {
    static func judge(_ texts: [String], _ rules: [SafetyRule]) -> SafetyVerdict {
        judge(texts, .request, rules)
    }

    static func judge(_ texts: [String], _ side: SafetyRule.Side, _ rules: [SafetyRule]) -> SafetyVerdict {
        var budget = ScanBudget()
        return SafetyScan.judge(texts, side: side, rules: rules, budget: &budget)
    }

    @Test func blockNamesTheFirstBlockingRuleAndKeepsEveryFlag() throws {
        let rules = [
            SafetyRule(name: "pii", detectors: [.email], action: .flag),
            SafetyRule(name: "no-keys", detectors: [.secret], action: .block),
            SafetyRule(name: "project", keywords: ["Apollo"], action: .block),
            SafetyRule(name: "tickets", patterns: [try BoundedRegex("TCK-\\d+")], action: .redact),
        ]
        let text = "mail ops@example.com key AKIAIOSFODNN7EXAMPLE about apollo, TCK-42"
        #expect(
            Self.judge([text], rules)
                == SafetyVerdict(
                    blockedBy: "no-keys", flags: ["pii.email", "secret", "keyword:project", "regex:tickets"]))
    }

    @Test func redactRewritesOnlyMatchedTextsByIndex() {
        let rule = SafetyRule(name: "pii", detectors: [.email, .phone], action: .redact)
        let verdict = Self.judge(["hello", "mail jo@example.org or (415) 555-0100", "bye"], [rule])
        #expect(verdict.flags == ["pii.email", "pii.phone"])
        #expect(verdict.rewritten == [1: "mail [REDACTED:EMAIL] or [REDACTED:PHONE]"])
        #expect(verdict.blockedBy == nil)
        #expect(!verdict.incomplete)
    }

    @Test func flagOnlyRecords() throws {
        let rule = SafetyRule(name: "words", keywords: ["refund"], action: .flag)
        #expect(Self.judge(["I want a REFUND."], [rule]) == SafetyVerdict(flags: ["keyword:words"]))
        #expect(Self.judge(["refunded already"], [rule]) == SafetyVerdict())
    }

    @Test func sideFiltering() {
        let requestOnly = SafetyRule(name: "in", detectors: [.email], side: .request, action: .flag)
        let responseOnly = SafetyRule(name: "out", detectors: [.usSSN], side: .response, action: .flag)
        let texts = ["a@b.io and 123-45-6789"]
        #expect(Self.judge(texts, .request, [requestOnly, responseOnly]).flags == ["pii.email"])
        #expect(Self.judge(texts, .response, [requestOnly, responseOnly]).flags == ["pii.us_ssn"])
        #expect(Self.judge(texts, .both, [requestOnly, responseOnly]).flags == ["pii.email", "pii.us_ssn"])
        #expect(SafetyRule(name: "x", side: .both, action: .flag).applies(to: .response))
        #expect(!SafetyRule(name: "x", side: .request, action: .flag).applies(to: .response))
    }

    @Test func redactionsCompose() throws {
        let first = SafetyRule(name: "names", keywords: ["Alice"], action: .redact)
        let second = SafetyRule(name: "codes", patterns: [try BoundedRegex("[A-Z]{3}-\\d{3}")], action: .redact)
        let verdict = Self.judge(["Alice sent ABC-123 to alice"], [first, second])
        #expect(verdict.rewritten == [0: "[REDACTED:KEYWORD] sent [REDACTED] to [REDACTED:KEYWORD]"])
        #expect(verdict.flags == ["keyword:names", "regex:codes"])
    }

    @Test func laterRulesSeeEarlierRewrites() throws {
        let first = SafetyRule(name: "email", detectors: [.email], action: .redact)
        let second = SafetyRule(name: "domain", patterns: [try BoundedRegex("example\\.com")], action: .flag)
        let verdict = Self.judge(["bob@example.com"], [first, second])
        #expect(verdict.flags == ["pii.email"])
        #expect(verdict.rewritten == [0: "[REDACTED:EMAIL]"])
    }

    @Test func overlappingMatchesOfOneRuleMergeIntoOnePlaceholder() throws {
        let rule = SafetyRule(
            name: "overlap", keywords: ["secret plan"],
            patterns: [try BoundedRegex("plan \\w+"), try BoundedRegex("a+?")], action: .redact)
        let verdict = Self.judge(["the secret plan today, baaa"], [rule])
        #expect(verdict.rewritten == [0: "the [REDACTED:KEYWORD], b[REDACTED]"])
    }

    @Test func flagsNeverHoldTheMatchedText() throws {
        let rules = [
            SafetyRule(name: "all", detectors: Detector.allCases, keywords: ["topsecret"], action: .flag),
            SafetyRule(name: "codes", patterns: [try BoundedRegex("X\\d+")], action: .redact),
        ]
        let text = "topsecret X99 jo@example.org 4111 1111 1111 1111 sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1"
        let verdict = Self.judge([text], rules)
        #expect(verdict.flags == ["pii.email", "pii.credit_card", "secret", "keyword:all", "regex:codes"])
        for flag in verdict.flags {
            #expect(!flag.contains("X99") && !flag.contains("jo@") && !flag.contains("4111") && !flag.contains("Zx9"))
        }
    }

    @Test func blockedTextsAreNotRewritten() {
        let rules = [
            SafetyRule(name: "scrub", detectors: [.email], action: .redact),
            SafetyRule(name: "stop", keywords: ["forbidden"], action: .block),
        ]
        let verdict = Self.judge(["a@b.io", "forbidden"], rules)
        #expect(verdict == SafetyVerdict(blockedBy: "stop", flags: ["pii.email", "keyword:stop"]))
    }

    @Test func multibyteTextAroundMatchesRedactsCleanly() throws {
        let rule = SafetyRule(
            name: "mix", detectors: [.email, .phone], keywords: ["機密"],
            patterns: [try BoundedRegex("caf.")], action: .redact)
        let text = "😀📧jo@example.org👍 電話 +81 3 1234 5678 です。機密情報 e\u{301} cafe\u{301}!"
        let verdict = Self.judge([text], [rule])
        #expect(
            verdict.rewritten == [
                0: "😀📧[REDACTED:EMAIL]👍 電話 [REDACTED:PHONE] です。[REDACTED:KEYWORD]情報 e\u{301} [REDACTED]!"
            ])
    }

    @Test func keywordsAreWholeWordAndUnicodeCaseInsensitive() {
        let rule = SafetyRule(name: "k", keywords: ["Straße", "c++", "İstanbul"], action: .redact)
        let verdict = Self.judge(["STRASSE straße Straßen; C++ and c++17; İSTANBUL istanbul"], [rule])
        #expect(
            verdict.rewritten == [
                0:
                    "STRASSE [REDACTED:KEYWORD] Straßen; [REDACTED:KEYWORD] and [REDACTED:KEYWORD]17; [REDACTED:KEYWORD] istanbul"
            ])
    }

    @Test func incompleteWhenTheBudgetRunsOut() throws {
        let rule = SafetyRule(name: "slow", patterns: [try BoundedRegex("(a|a)*b")], action: .block)
        var budget = ScanBudget(steps: 50)
        let verdict = SafetyScan.judge(
            [String(repeating: "a", count: 1_000)], side: .request, rules: [rule], budget: &budget)
        #expect(verdict == SafetyVerdict(incomplete: true))
        #expect(budget.remaining == 0)
        var enough = ScanBudget()
        let complete = SafetyScan.judge(["aaab"], side: .request, rules: [rule], budget: &enough)
        #expect(complete == SafetyVerdict(blockedBy: "slow", flags: ["regex:slow"]))
    }

    @Test func redactAllReplacesEveryDetectorAndRuleMatch() throws {
        let rules = [
            SafetyRule(name: "k", keywords: ["apollo"], side: .response, action: .flag),
            SafetyRule(name: "p", patterns: [try BoundedRegex("TCK-\\d+")], action: .block),
        ]
        var budget = ScanBudget()
        let text = "Apollo: jo@example.org, 123-45-6789, 192.168.0.1, TCK-7, AKIAIOSFODNN7EXAMPLE, ok"
        #expect(
            SafetyScan.redactAll(text, rules: rules, budget: &budget)
                == "[REDACTED:KEYWORD]: [REDACTED:EMAIL], [REDACTED:US_SSN], [REDACTED:IP_ADDRESS], [REDACTED], "
                + "[REDACTED:SECRET], ok")
    }

    @Test func detectorNamesFlagsAndPlaceholders() {
        #expect(
            Detector.allCases.map(\.flag) == [
                "pii.email", "pii.phone", "pii.credit_card", "pii.iban", "pii.us_ssn", "pii.ip_address", "secret",
            ])
        #expect(Detector.creditCard.placeholder == "[REDACTED:CREDIT_CARD]")
        #expect(Detector.ipAddress.placeholder == "[REDACTED:IP_ADDRESS]")
        #expect(Detector.secret.placeholder == "[REDACTED:SECRET]")
        #expect(Detector(rawValue: "us_ssn") == .usSSN)
    }
}
