import Testing
@testable import TallyAggregate
@testable import TallyCore
@testable import TallyIngest

@Suite struct MoneyTests {
    @Test(arguments: [("0.0125", Int64(12_500_000)), ("3", 3_000_000_000), ("0.000000001", 1), ("12.5", 12_500_000_000)])
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
        #expect(Instant(rfc3339: "2026-11-20T10:15:00.123456789Z")?.microseconds == Instant(rfc3339: "2026-11-20T10:15:00.123456Z")?.microseconds)
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
        let events = try decode("""
        {"id":"e1","timestamp":"2026-11-20T10:00:00Z","provider":"anthropic","model":"claude-sonnet-4-5","operation":"chat",
         "input_tokens":1000,"output_tokens":200,"cached_input_tokens":300,"cache_write_input_tokens":100,
         "cache_write_1h_input_tokens":40,"reasoning_tokens":50,"input_audio_tokens":0,"output_audio_tokens":0,"requests":2,
         "project":"web","feature":"search","user":"u1","api_key":"…a1b2","environment":"prod","tags":{"team":"core"},
         "status":"error","http_status":429,"error_type":"rate_limit_error","latency_ms":812,"time_to_first_token_ms":90,
         "streamed":true,"retries":1,"finish_reason":"end_turn","batch":true,"service_tier":"priority",
         "provider_cost_usd":"0.0231","source":"import"}
        """)
        let e = try #require(events.first)
        #expect(e.id == "e1" && e.provider == "anthropic" && e.usage.cacheWrite1hInputTokens == 40 && e.usage.requests == 2)
        #expect(e.attribution.tags == ["team": "core"] && e.outcome.status == .error && e.outcome.httpStatus == 429)
        #expect(e.providerCost == USD(decimal: "0.0231") && e.batch && e.source == .import && e.outcome.streamed == true)
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
        let p = problems(#"[{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m"},{"provider":"OpenAI","input_tokens":1.5,"colour":"red"}]"#)
        #expect(p.contains(FieldProblem(index: 1, field: "colour", reason: "unknown field")))
        #expect(p.contains { $0.index == 1 && $0.field == "provider" })
        #expect(p.contains { $0.index == 1 && $0.field == "input_tokens" })
        #expect(p.contains(FieldProblem(index: 1, field: "timestamp", reason: "is required")))
        #expect(p.contains(FieldProblem(index: 1, field: "model", reason: "is required")))
        #expect(!p.contains { $0.index == 0 })
    }

    @Test func namesAnOutOfRangeProviderCost() {
        let p = problems(#"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m","provider_cost_usd":"9766439370"}"#)
        #expect(p.map(\.field) == ["provider_cost_usd"])
    }

    @Test func rejectsContent() {
        #expect(throws: TallyError.self) { try decode(#"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m","messages":[]}"#) }
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
        (#""input_tokens":10,"cache_write_input_tokens":5,"cache_write_1h_input_tokens":6"#, "cache_write_1h_input_tokens"),
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
        #expect(problems(#"{"timestamp":"2026-11-24T01:00:00Z","provider":"openai","model":"m"}"#).map(\.field) == ["timestamp"])
    }

    @Test func limitsBatchSize() {
        let one = #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"m"}"#
        let many = "[" + Array(repeating: one, count: 1001).joined(separator: ",") + "]"
        #expect(throws: TallyError.tooLarge("at most 1000 events per request (got 1001)")) { try decode(many) }
    }
}

@Suite struct SummaryPlanTests {
    func query(_ from: String, _ to: String, zone: String = "UTC", grain: TimeGrain? = nil, dims: [UsageDimension] = []) -> SummaryQuery {
        SummaryQuery(organizationID: "o", from: Instant(rfc3339: from)!, to: Instant(rfc3339: to)!,
                     timeZone: TimeZoneRules(identifier: zone)!, grain: grain, dimensions: dims, filters: [:])
    }

    @Test func alignedRangeUsesOnlyRollups() {
        let plan = SummaryPlan(query("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", grain: .day, dims: [.model]))
        #expect(plan.table == .main)
        #expect(plan.rawRanges.isEmpty)
        // Whole UTC days come from the daily table: two days, one read.
        let nov1 = Instant(rfc3339: "2026-11-01T00:00:00Z")!.hour / 24
        #expect(plan.dayRanges == [SummaryPlan.RollupRange(startHour: nov1, endHour: nov1 + 2, offsetSeconds: 0)])
        #expect(plan.rollupRanges.isEmpty)
    }

    @Test func daysInsideAPeriodComeFromTheDailyTableAndTheirEdgesFromHours() {
        // A Berlin billing cycle so far: from local midnight Nov 1 (23:00Z Oct 31) to 12:30Z Nov 23.
        let plan = SummaryPlan(query("2026-10-31T23:00:00Z", "2026-11-23T12:30:00Z", zone: "Europe/Berlin"))
        let nov1 = Instant(rfc3339: "2026-11-01T00:00:00Z")!.hour / 24
        #expect(plan.dayRanges.map { [$0.startHour, $0.endHour] } == [[nov1, nov1 + 22]])
        #expect(plan.rollupRanges.map { [$0.startHour - nov1 * 24, $0.endHour - nov1 * 24] } == [[-1, 0], [22 * 24, 22 * 24 + 12]])
        #expect(plan.rawRanges.map { $0.start.rfc3339 } == ["2026-11-23T12:00:00Z"])
        // Grouped by day in Berlin, no UTC day lies inside a local day: hours only.
        let byDay = SummaryPlan(query("2026-10-31T23:00:00Z", "2026-11-03T23:00:00Z", zone: "Europe/Berlin", grain: .day))
        #expect(byDay.dayRanges.isEmpty && byDay.rollupRanges.count == 1)
        // By month, the days inside each local month are daily reads, labelled by the local day of their start.
        let byMonth = SummaryPlan(query("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z", zone: "America/New_York", grain: .month))
        #expect(byMonth.dayRanges.count >= 2 && byMonth.dayRanges.allSatisfy { $0.offsetSeconds < 0 })
    }

    @Test func partialHoursComeFromRawEvents() {
        let plan = SummaryPlan(query("2026-11-01T00:10:00Z", "2026-11-01T05:30:00Z"))
        let raw: [String] = plan.rawRanges.map { $0.start.rfc3339 + "/" + $0.end.rfc3339 }
        let expected: [String] = ["2026-11-01T00:10:00Z/2026-11-01T01:00:00Z", "2026-11-01T05:00:00Z/2026-11-01T05:30:00Z"]
        #expect(raw == expected)
        #expect(plan.rollupRanges.count == 1)
    }

    @Test func halfHourZonesSplitTheStraddlingHour() {
        let plan = SummaryPlan(query("2026-11-19T18:30:00Z", "2026-11-21T18:30:00Z", zone: "Asia/Kolkata", grain: .day))
        // Each local midnight (18:30 UTC) falls mid-hour: those half hours are read raw, labelled by their day.
        #expect(plan.rawRanges.map(\.period) == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-21"])
        #expect(plan.rollupRanges.allSatisfy { $0.offsetSeconds == 19_800 })
    }

    @Test func userDimensionUsesTheUserRollupAndMixedNeedsRaw() {
        #expect(SummaryPlan(query("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", dims: [.user])).table == .byUser)
        let mixed = SummaryPlan(query("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", dims: [.user, .feature]))
        #expect(mixed.table == nil && mixed.rollupRanges.isEmpty && mixed.rawRanges.count == 1)
    }

    @Test func weekAndMonthLabels() {
        #expect(PeriodLabel.label(CivilDate(year: 2026, month: 11, day: 22), grain: .week) == "2026-11-16")
        #expect(PeriodLabel.label(CivilDate(year: 2026, month: 11, day: 22), grain: .month) == "2026-11")
    }
}

@Suite struct GroupCommitterTests {
    /// A stand-in for the store: each commit is one all-or-nothing transaction that takes a while and then makes its
    /// rows visible at once; ids already stored are duplicates (as `ON CONFLICT DO NOTHING`).
    actor Table {
        var rows: [String: Int64] = [:]
        /// How often each id was written (a batch committed twice writes it twice).
        var writes: [String: Int] = [:]
        /// Per transaction that committed: its batches' first event ids.
        var transactions: [[String]] = []

        func commit(_ batches: [EventBatch], failIf: @Sendable (EventBatch) -> Bool = { _ in false }) async throws -> [InsertOutcome] {
            try await Task.sleep(for: .milliseconds(20))  // the transaction in progress: nothing visible yet
            if batches.contains(where: failIf) { throw TallyError.unavailable("boom") }
            var outcomes: [InsertOutcome] = []
            for batch in batches {
                var accepted = 0, duplicates = 0
                for e in batch.events {
                    if rows[e.event.id] == nil {
                        rows[e.event.id] = e.event.usage.outputTokens
                        writes[e.event.id, default: 0] += 1
                        accepted += 1
                    } else {
                        duplicates += 1
                    }
                }
                outcomes.append(InsertOutcome(accepted: accepted, duplicates: duplicates))
            }
            transactions.append(batches.map { $0.events.first?.event.id ?? "-" })
            return outcomes
        }
        func stored(_ ids: [String]) -> Bool { ids.allSatisfy { rows[$0] != nil } }
    }

    static func event(_ id: String, output: Int64) -> StoredEvent {
        var e = UsageEvent(id: id, timestamp: Instant(seconds: 1_763_640_000), provider: "p", model: "m")
        e.usage.outputTokens = output
        return StoredEvent(event: e, organizationID: "o", projectID: "p", projectName: "p", receivedAt: Instant(seconds: 1_763_640_000),
                           cost: nil, priceID: nil)
    }

    @Test func concurrentSubmissionsShareTransactionsAndEachGetsItsOutcome() async throws {
        let table = Table()
        let committer = GroupCommitter(maxInFlight: 1) { batches in try await table.commit(batches) }
        // Batch k holds k + 1 events (so every outcome names its batch), ids "k-j", output tokens 1000k + j.
        let expected: [String: Int64] = Dictionary(uniqueKeysWithValues: (0..<40).flatMap { k in
            (0...k).map { j in ("\(k)-\(j)", Int64(1000 * k + j)) }
        })
        let results = try await withThrowingTaskGroup(of: (Int, InsertOutcome, Bool).self) { group in
            for k in 0..<40 {
                group.addTask {
                    let batch = (0...k).map { j in Self.event("\(k)-\(j)", output: Int64(1000 * k + j)) }
                    let outcome = try await committer.submit(EventBatch(organizationID: "o", events: batch))
                    // Acknowledged only once committed: its rows are visible the moment submit returns.
                    return (k, outcome, await table.stored(batch.map(\.event.id)))
                }
            }
            return try await group.reduce(into: [(Int, InsertOutcome, Bool)]()) { $0.append($1) }
        }
        #expect(results.map(\.0).sorted() == Array(0..<40), "every submission returned once")
        for (k, outcome, visible) in results {
            #expect(outcome == InsertOutcome(accepted: k + 1, duplicates: 0), "batch \(k) got another batch's outcome: \(outcome)")
            #expect(visible, "batch \(k) was acknowledged before its transaction committed")
        }
        // Every row, exactly as sent: none lost, none invented, none written twice.
        #expect(await table.rows == expected)
        #expect(await table.writes.values.allSatisfy { $0 == 1 })
        let transactions = await table.transactions
        #expect(transactions.flatMap { $0 }.sorted() == (0..<40).map { "\($0)-0" }.sorted(), "each batch in exactly one commit")
        #expect(transactions.count < 40, "requests were grouped into fewer transactions: \(transactions.map(\.count))")
    }

    @Test func oneFailingBatchDoesNotFailTheOthers() async throws {
        let table = Table()
        let committer = GroupCommitter(maxInFlight: 1) { batches in
            try await table.commit(batches, failIf: { $0.organizationID == "bad" })
        }
        let results = await withTaskGroup(of: (Int, Bool).self) { group in
            for i in 0..<10 {
                group.addTask {
                    let batch = EventBatch(organizationID: i == 3 ? "bad" : "ok",
                                           events: [Self.event("\(i)-a", output: Int64(i)), Self.event("\(i)-b", output: Int64(100 + i))])
                    return (i, (try? await committer.submit(batch)) == InsertOutcome(accepted: 2, duplicates: 0))
                }
            }
            return await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
        }
        #expect(results.filter { !$0.1 }.map(\.0) == [3], "only the bad batch fails")
        // The others' rows are stored once each; nothing of the failed one (its transaction wrote nothing).
        let expected = Dictionary(uniqueKeysWithValues: (0..<10).filter { $0 != 3 }.flatMap { i in
            [("\(i)-a", Int64(i)), ("\(i)-b", Int64(100 + i))]
        })
        #expect(await table.rows == expected)
        #expect(await table.writes.values.allSatisfy { $0 == 1 })
    }
}
