import Testing

@testable import TallyCore
@testable import TallyIngest

/// One set of rules for every source: what the decoder refuses in JSON, `problems(in:)` refuses in a built event, with
/// the same field and message; what a recording source admits passes them.
@Suite struct EventRulesTests {
    let now = Instant(rfc3339: "2026-11-20T12:00:00Z")!

    func event() -> UsageEvent {
        var e = UsageEvent(
            id: "e1", timestamp: Instant(rfc3339: "2026-11-20T11:00:00Z")!, provider: "openai", model: "gpt-4o")
        e.usage.inputTokens = 100
        e.usage.outputTokens = 20
        return e
    }

    /// The decoder's problems for one event object with `extra` members (besides a valid id, time, provider, model).
    func decoded(_ extra: String) -> [FieldProblem] {
        let json = #"{"id":"e1","timestamp":"2026-11-20T11:00:00Z","provider":"openai","model":"gpt-4o""# + extra + "}"
        do {
            _ = try EventDecoder.decode(Array(json.utf8), format: .json, now: now)
            return []
        } catch {
            guard case .invalid(let problems) = error else { return [FieldProblem(field: "?", reason: "\(error)")] }
            return problems.map { FieldProblem(field: $0.field, reason: $0.reason) }
        }
    }

    @Test func aValidEventHasNoProblems() {
        #expect(EventRules.problems(in: event(), now: now).isEmpty)
        #expect(decoded(#","input_tokens":100,"output_tokens":20"#).isEmpty)
    }

    @Test func theDecoderAndTheTypedCheckSayTheSame() {
        var e = event()
        e.attribution.environment = String(repeating: "e", count: 65)
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(
                    #","input_tokens":100,"output_tokens":20,"environment":""# + String(repeating: "e", count: 65)
                        + #"""#))

        e = event()
        e.usage.reasoningTokens = 21
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(#","input_tokens":100,"output_tokens":20,"reasoning_tokens":21"#))

        e = event()
        e.usage.cachedInputTokens = 80
        e.usage.cacheWriteInputTokens = 30
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(
                    #","input_tokens":100,"output_tokens":20,"cached_input_tokens":80,"cache_write_input_tokens":30"#))

        e = event()
        e.outcome.httpStatus = 600
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(#","input_tokens":100,"output_tokens":20,"http_status":600"#))

        e = event()
        e.attribution.apiKey = "sk-proj-abcdefghijklmnopqrstuvwxyz"
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(#","input_tokens":100,"output_tokens":20,"api_key":"sk-proj-abcdefghijklmnopqrstuvwxyz""#))

        e = event()
        e.attribution.tags = ["t": String(repeating: "v", count: 257)]
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(
                    #","input_tokens":100,"output_tokens":20,"tags":{"t":""# + String(repeating: "v", count: 257)
                        + #""}"#))

        e = event()
        e.attribution.tags = [String(repeating: "k", count: 65): "v"]
        #expect(EventRules.problems(in: e, now: now).map(\.field) == ["tags"])
        #expect(
            decoded(#","tags":{""# + String(repeating: "k", count: 65) + #"":"v"}"#).map(\.reason) == [
                "tag names must be 1 to 64 characters"
            ])

        e = event()
        e.providerCost = USD(nanos: UsageLimits.maxAmount.nanos + 1)
        #expect(
            EventRules.problems(in: e, now: now)
                == decoded(#","input_tokens":100,"output_tokens":20,"provider_cost_usd":"1000000000.000000001""#))

        e = event()
        e.timestamp = now.adding(seconds: 86_401)
        #expect(EventRules.problems(in: e, now: now).map(\.reason) == ["is more than 24 hours in the future"])

        e = event()
        e.provider = "Open AI"
        #expect(EventRules.problems(in: e, now: now).map(\.field) == ["provider"])

        e = event()
        e.usage.outputTokens = UsageLimits.maxCount + 1
        #expect(EventRules.problems(in: e, now: now).map(\.field) == ["output_tokens"])
    }

    /// Cached audio is the audio part of the cache reads: more of it than either count is refused by both paths, with
    /// the same field and reason; within both it passes.
    @Test func cachedAudioMustBeInsideTheCachedAndTheAudioCounts() {
        var e = event()
        e.usage.cachedInputTokens = 30
        e.usage.inputAudioTokens = 40
        e.usage.cachedInputAudioTokens = 30
        #expect(EventRules.problems(in: e, now: now).isEmpty)
        #expect(
            decoded(
                #","input_tokens":100,"output_tokens":20,"cached_input_tokens":30,"input_audio_tokens":40,"#
                    + #""cached_input_audio_tokens":30"#
            ).isEmpty)

        e.usage.cachedInputAudioTokens = 41
        let problems = EventRules.problems(in: e, now: now)
        #expect(
            problems.map(\.reason) == [
                "must not exceed cached_input_tokens (cached_input_tokens includes cached audio)",
                "must not exceed input_audio_tokens (input_audio_tokens includes cached audio)",
            ])
        #expect(problems.allSatisfy { $0.field == "cached_input_audio_tokens" })
        #expect(
            problems
                == decoded(
                    #","input_tokens":100,"output_tokens":20,"cached_input_tokens":30,"input_audio_tokens":40,"#
                        + #""cached_input_audio_tokens":41"#))

        e.usage.cachedInputAudioTokens = 35
        #expect(EventRules.problems(in: e, now: now).map(\.reason) == [problems[0].reason])
    }

    @Test func admissionLeavesOutRefusedAttributionAndSaysWhich() {
        var e = event()
        e.attribution = Attribution(
            feature: "search", user: "\u{0}", environment: String(repeating: "e", count: 65), tags: ["team": "a"])
        let admission = EventRules.admit(&e)
        #expect(admission == EventRules.Admission(refusedAttribution: ["environment", "user"]))
        #expect(
            e.attribution
                == Attribution(feature: "search", tags: ["team": "a", "tally_refused_attribution": "environment,user"]))
        #expect(EventRules.problems(in: e, now: now).isEmpty)
    }

    @Test func admissionReplacesUsageOutOfBoundsOrInconsistent() {
        for broken in [
            { (u: inout TokenUsage) in u.outputTokens = UsageLimits.maxCount + 1 },
            { (u: inout TokenUsage) in u.inputTokens = -1 },
            { (u: inout TokenUsage) in u.cachedInputTokens = 101 },
            { (u: inout TokenUsage) in u.reasoningTokens = 21 },
            { (u: inout TokenUsage) in u.cachedInputAudioTokens = 1 },
        ] {
            var e = event()
            broken(&e.usage)
            let admission = EventRules.admit(&e)
            #expect(admission.refusedUsage != nil)
            #expect(
                e.usage == TokenUsage() && e.outcome.status == .error && e.outcome.errorType == "usage_out_of_bounds")
            #expect(e.attribution.tags["tally_refused_usage"] == admission.refusedUsage)
            #expect(EventRules.problems(in: e, now: now).isEmpty)
        }
    }

    @Test func admissionLeavesOutOptionalValuesTheRulesRefuse() {
        var e = event()
        e.outcome.errorType = String(repeating: "x", count: 129)
        e.outcome.finishReason = "stop\n"
        e.outcome.httpStatus = 999
        e.serviceTier = ""
        let admission = EventRules.admit(&e)
        #expect(admission == EventRules.Admission())
        #expect(
            e.outcome.errorType == nil && e.outcome.finishReason == nil && e.outcome.httpStatus == nil
                && e.serviceTier == nil)
        #expect(EventRules.problems(in: e, now: now).isEmpty)
    }

    @Test func aValidEventIsAdmittedUnchanged() {
        var e = event()
        e.attribution = Attribution(feature: "f", user: "ünïcödé user", environment: "prod", tags: ["a": "b"])
        e.outcome.httpStatus = 200
        e.outcome.finishReason = "stop"
        let before = e
        #expect(EventRules.admit(&e) == EventRules.Admission())
        #expect(e == before)
    }

    /// A gateway event's `api_key` (issue 22): the token's name, never a secret, else the token's id.
    @Test func theGatewaysAPIKeyLabelIsTheTokensNameOrId() {
        func token(_ name: String?) -> APIToken {
            APIToken(
                id: "tok_1", organizationID: "org", projectID: "p", projectName: "web", name: name, scopes: [.gateway],
                hint: "abcd", createdAt: now)
        }
        #expect(EventRules.apiKeyLabel(token("checkout-bot")) == "checkout-bot")
        #expect(EventRules.apiKeyLabel(token(nil)) == "tok_1")
        #expect(EventRules.apiKeyLabel(token("sk-proj-0123456789abcdefghij")) == "tok_1")
        #expect(EventRules.apiKeyLabel(token(String(repeating: "n", count: 65))) == "tok_1")
        #expect(EventRules.apiKeyLabel(token("bad\u{0}name")) == "tok_1")
    }
}
