import Testing

@testable import TallyCore
@testable import TallyIngest

@Suite struct EventDecoderTests {
    let now = Instant(rfc3339: "2026-11-23T00:00:00Z")!

    func decode(_ json: String, format: EventDecoder.Format = .json) throws(TallyError) -> [UsageEvent] {
        try EventDecoder.decode(Array(json.utf8), format: format, now: now)
    }

    func problems(_ json: String) -> [FieldProblem] {
        do {
            _ = try decode(json)
            return []
        } catch {
            switch error {
            case .invalid(let p), .contentNotAllowed(let p): return p
            default: return [FieldProblem(field: "?", reason: "\(error)")]
            }
        }
    }

    @Test func decodesEveryField() throws {
        let events = try decode(
            """
            {"id":"e1","timestamp":"2026-11-20T10:00:00Z","provider":"anthropic","model":"claude-sonnet-4-5","operation":"chat",
             "input_tokens":1000,"output_tokens":200,"cached_input_tokens":300,"cache_write_input_tokens":100,
             "cache_write_1h_input_tokens":40,"reasoning_tokens":50,"input_audio_tokens":0,"output_audio_tokens":0,"requests":2,
             "project":"web","feature":"search","user":"u1","api_key":"…a1b2","environment":"prod","tags":{"team":"core"},
             "status":"error","http_status":429,"error_type":"rate_limit_error","latency_ms":812,"time_to_first_token_ms":90,
             "streamed":true,"retries":1,"finish_reason":"end_turn","batch":true,"service_tier":"priority",
             "provider_cost_usd":"0.0231","source":"import"}
            """)
        let e = try #require(events.first)
        #expect(
            e.id == "e1" && e.provider == "anthropic" && e.usage.cacheWrite1hInputTokens == 40 && e.usage.requests == 2)
        #expect(e.attribution.tags == ["team": "core"] && e.outcome.status == .error && e.outcome.httpStatus == 429)
        #expect(
            e.providerCost == USD(decimal: "0.0231") && e.batch && e.source == .import && e.outcome.streamed == true)
    }

    @Test func acceptsEveryEnvelope() throws {
        let one = #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"gpt-4o"}"#
        #expect(try decode(one).count == 1)
        #expect(try decode("[\(one),\(one)]").count == 2)
        #expect(try decode(#"{"events":[\#(one),\#(one),\#(one)]}"#).count == 3)
        #expect(try decode("\(one)\n\n\(one)\n", format: .ndjson).count == 2)
        #expect(try decode(one)[0].id.hasPrefix("evt_"))
    }

    @Test func namesEveryProblemWithItsIndex() {
        let p = problems(
            #"[{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m"},{"provider":"OpenAI","input_tokens":1.5,"colour":"red"}]"#
        )
        #expect(p.contains(FieldProblem(index: 1, field: "colour", reason: "unknown field")))
        #expect(p.contains { $0.index == 1 && $0.field == "provider" })
        #expect(p.contains { $0.index == 1 && $0.field == "input_tokens" })
        #expect(!p.contains { $0.field == "timestamp" })
        #expect(p.contains(FieldProblem(index: 1, field: "model", reason: "is required")))
        #expect(!p.contains { $0.index == 0 })
    }

    @Test func namesAnOutOfRangeProviderCost() {
        let p = problems(
            #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m","provider_cost_usd":"9766439370"}"#)
        #expect(p.map(\.field) == ["provider_cost_usd"])
    }

    @Test func rejectsContent() {
        #expect(throws: TallyError.self) {
            try decode(#"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m","messages":[]}"#)
        }
        do {
            _ = try decode(#"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m","prompt":"hi"}"#)
            Issue.record("content accepted")
        } catch {
            guard case .contentNotAllowed(let p) = error else { Issue.record("wrong error \(error)"); return }
            #expect(p.first?.field == "prompt")
        }
    }

    @Test(arguments: [
        (#""input_tokens":10,"cached_input_tokens":8,"cache_write_input_tokens":3"#, "cached_input_tokens"),
        (#""output_tokens":10,"reasoning_tokens":11"#, "reasoning_tokens"),
        (
            #""input_tokens":10,"cached_input_tokens":2,"input_audio_tokens":5,"cached_input_audio_tokens":3"#,
            "cached_input_audio_tokens"
        ),
        (
            #""input_tokens":10,"cached_input_tokens":5,"input_audio_tokens":2,"cached_input_audio_tokens":3"#,
            "cached_input_audio_tokens"
        ),
        (
            #""input_tokens":10,"cache_write_input_tokens":5,"cache_write_1h_input_tokens":6"#,
            "cache_write_1h_input_tokens"
        ),
        (#""requests":0"#, "requests"),
        (#""http_status":42"#, "http_status"),
        (#""api_key":"sk-proj-abcdefghijklmnopqrstuvwxyz""#, "api_key"),
        (#""provider_cost_usd":1.5e3"#, "provider_cost_usd"),
        (#""status":"failed""#, "status"),
        (#""operation":"chatting""#, "operation"),
    ])
    func crossFieldAndValueRules(fields: String, field: String) {
        let p = problems(#"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m",\#(fields)}"#)
        #expect(p.map(\.field) == [field])
    }

    @Test func timestampAtMostADayAhead() {
        #expect(problems(#"{"timestamp":"2026-11-23T23:00:00Z","provider":"openai","model":"m"}"#).isEmpty)
        #expect(
            problems(#"{"timestamp":"2026-11-24T01:00:00Z","provider":"openai","model":"m"}"#).map(\.field) == [
                "timestamp"
            ])
    }

    @Test func limitsBatchSize() {
        let one = #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m"}"#
        let many = "[" + Array(repeating: one, count: 1001).joined(separator: ",") + "]"
        #expect(throws: TallyError.tooLarge("at most 1000 events per request (got 1001)")) { try decode(many) }
    }

    @Test func aMissingTimestampIsTheTimeReceived() throws {
        let e = try decode(#"{"provider":"openai","model":"m"}"#)[0]
        #expect(e.timestamp == now)
        #expect(try decode(#"{"timestamp":null,"provider":"openai","model":"m"}"#)[0].timestamp == now)
    }

    @Test func acceptsTheAliasesOfOtherClients() throws {
        let e = try decode(
            #"{"request_timestamp":"2026-11-20T10:00:00Z","project_id":"prj_1","provider":"openai","model":"m"}"#)[0]
        #expect(e.timestamp == Instant(rfc3339: "2026-11-20T10:00:00Z"))
        #expect(e.attribution.project == "prj_1")
        let both = problems(
            #"{"timestamp":"2026-11-20T10:00:00Z","request_timestamp":"2026-11-20T10:00:00Z","project":"a","project_id":"b","provider":"openai","model":"m"}"#
        )
        #expect(both.map(\.field).sorted() == ["project_id", "request_timestamp"])
    }

    @Test func checksTotalTokensAgainstItsParts() throws {
        let ok = #"{"provider":"openai","model":"m","input_tokens":10,"output_tokens":5,"total_tokens":15}"#
        #expect(try decode(ok)[0].usage.inputTokens == 10)
        let p = problems(#"{"provider":"openai","model":"m","input_tokens":10,"output_tokens":5,"total_tokens":14}"#)
        #expect(p.map(\.field) == ["total_tokens"])
        #expect(p.first?.reason.contains("15") == true)
    }
}
