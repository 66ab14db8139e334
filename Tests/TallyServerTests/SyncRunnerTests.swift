import Foundation
import Logging
import NIOCore
import Synchronization
import TallyCore
import TallyPrice
import TallyProviders
import TallyStoreSQL
import TallyStoreSQLite
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServer
@testable import TallyServices
@testable import TallyWeb

/// A scripted provider: answers each request from a closure and records what it was asked.
final class ScriptedProvider: ReportTransport, Sendable {
    let answer: @Sendable (String, Int) -> TransportResponse
    let log = Mutex<[String]>([])
    init(_ answer: @escaping @Sendable (String, Int) -> TransportResponse) { self.answer = answer }

    func get(_ url: String, headers: [String: String], timeout: TimeAmount) async throws -> TransportResponse {
        let n = log.withLock {
            $0.append(url); return $0.count
        }
        return answer(url, n)
    }
    var urls: [String] { log.withLock { $0 } }
}

func ok(_ text: String) -> TransportResponse { TransportResponse(status: 200, headers: [:], body: Array(text.utf8)) }

/// An Anthropic messages page of daily buckets from `day` (Unix days), one row per bucket, and an empty cost report.
func anthropicPage(days: Range<Int>, output: Int64, next: String?) -> String {
    let buckets = days.map { d -> String in
        let start = Instant(seconds: Int64(d) * 86_400).rfc3339, end = Instant(seconds: Int64(d + 1) * 86_400).rfc3339
        return """
            {"starting_at":"\(start)","ending_at":"\(end)","results":[{"uncached_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":0,
             "ephemeral_1h_input_tokens":0},"cache_read_input_tokens":0,"output_tokens":\(output),"server_tool_use":{"web_search_requests":0},
             "api_key_id":"apikey_1","workspace_id":null,"model":"claude-sonnet-4-5","service_tier":"standard","context_window":"0-200k"}]}
            """
    }
    return
        #"{"data":[\#(buckets.joined(separator: ","))],"has_more":\#(next != nil),"next_page":\#(next.map { "\"\($0)\"" } ?? "null")}"#
}

/// The runner's waits, recorded instead of slept, and its jitter, scripted.
final class Waits: Sendable {
    let state: Mutex<(sleeps: [Int64], jitter: [Double], draws: Int)>
    init(_ jitter: [Double]) { state = Mutex((sleeps: [], jitter: jitter, draws: 0)) }
    func slept(_ ms: Int64) { state.withLock { $0.sleeps.append(ms) } }
    func draw() -> Double {
        state.withLock { s in
            defer { s.draws += 1 }
            return s.draws < s.jitter.count ? s.jitter[s.draws] : 0.5
        }
    }
    var sleeps: [Int64] { state.withLock { $0.sleeps } }
}

func failure(_ status: Int, retryAfter: String? = nil) -> TransportResponse {
    TransportResponse(
        status: status, headers: retryAfter.map { ["retry-after": $0] } ?? [:],
        body: Array(#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#.utf8))
}

@Suite struct SyncRunnerTests {
    let day0 = 20_400  // 2025-11-08, a whole UTC day

    /// `jitter`: the runner's random draws in [0, 1), one per wait, in order (0.5 once the script is used up).
    func setUp(
        _ transport: ScriptedProvider,
        policy: RetryPolicy = RetryPolicy(maxAttempts: 3, baseMilliseconds: 100, capMilliseconds: 10_000),
        jitter: [Double] = []
    ) async throws -> (AccountsFixture, SyncRunner<SQLiteStore>, ProviderConnection, Waits) {
        var f = try await AccountsFixture.make()
        f.options.reportTransport = transport
        let vault = try #require(f.options.vault)
        let now = Instant.now
        let c = ProviderConnection(
            id: "conn_a", organizationID: "org_default", provider: .anthropic, name: "a", baseURL: "http://standin",
            apiKey: nil, apiKeyMask: nil,
            adminKey: try vault.seal(
                "sk-ant-admin01-secretsecret", organizationID: "org_default", connectionID: "conn_a",
                field: .adminKey), adminKeyMask: "sk-…cret",
            validatedAt: now, validationError: nil, createdAt: now, updatedAt: now)
        try await f.store.createConnection(
            c, audit: .make(organizationID: "org_default", actor: "t", action: "connection.create"))
        let waits = Waits(jitter)
        let runner = SyncRunner(
            store: f.store, connections: ConnectionService(store: f.store, vault: f.options.vault),
            vault: f.options.vault, pricer: CatalogPricer(), transport: transport, policy: policy,
            logger: Logger(label: "test"), sleep: { ms in waits.slept(ms) }, random: { waits.draw() })
        return (f, runner, c, waits)
    }

    func outputTotal(_ f: AccountsFixture) async throws -> Int64 {
        try await f.store.providerUsage(
            organizationID: "org_default", connectionID: "conn_a", from: Instant(seconds: 0), to: .now
        )
        .reduce(0) { $0 + $1.row.row.usage.outputTokens }
    }

    var range: (Instant, Instant) {
        (Instant(seconds: Int64(day0) * 86_400), Instant(seconds: Int64(day0 + 4) * 86_400))
    }

    @Test func pagesAreFollowedStoredExactlyAndResyncReplaces() async throws {
        let output = Atomic<Int64>(100)
        let provider = ScriptedProvider { url, _ in
            if url.contains("cost_report") { return ok(#"{"data":[],"has_more":false,"next_page":null}"#) }
            let o = output.load(ordering: .relaxed)
            return url.contains("page=p2")
                ? ok(anthropicPage(days: 20_402..<20_404, output: o, next: nil))
                : ok(anthropicPage(days: 20_400..<20_402, output: o, next: "p2"))
        }
        let (f, runner, c, _) = try await setUp(provider)
        let run = try await runner.run(c, from: range.0, to: range.1, trigger: .manual)
        #expect(run.status == .succeeded && run.pages == 3 && run.rows == 4, "\(run.error ?? "")")
        #expect(try await outputTotal(f) == 400)
        #expect(provider.urls.first?.contains("group_by%5B%5D=model") == true)
        // The same range again: identical tables, not doubled.
        _ = try await runner.run(c, from: range.0, to: range.1, trigger: .manual)
        #expect(try await outputTotal(f) == 400)
        // Late data: the provider's figures changed; a re-sync replaces them.
        output.store(250, ordering: .relaxed)
        _ = try await runner.run(c, from: range.0, to: range.1, trigger: .schedule)
        #expect(try await outputTotal(f) == 1000)
        let stored = try await f.store.providerUsage(
            organizationID: "org_default", connectionID: nil, from: range.0, to: range.1)
        #expect(
            stored.allSatisfy { $0.row.cost != nil && $0.row.priceID != nil }, "synced usage is priced by the catalog")
        #expect(try await f.store.syncRuns(organizationID: "org_default", connectionID: "conn_a", limit: 10).count == 3)
    }

    @Test func rateLimitsBackOffHonouringRetryAfterThenGiveUp() async throws {
        let provider = ScriptedProvider { url, n in
            if n <= 2 {
                return TransportResponse(
                    status: 429, headers: ["retry-after": "7"],
                    body: Array(#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#.utf8))
            }
            if url.contains("cost_report") {
                return TransportResponse(
                    status: 529, headers: [:],
                    body: Array(#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#.utf8))
            }
            return ok(anthropicPage(days: 20_400..<20_404, output: 5, next: nil))
        }
        // Jitter draws 0.75, 0.75, 0.5, 0.25 (binary fractions, so every product below is exact).
        let (f, runner, c, waits) = try await setUp(provider, jitter: [0.75, 0.75, 0.5, 0.25])
        let run = try await runner.run(c, from: range.0, to: range.1, trigger: .manual)
        #expect(try await outputTotal(f) == 20, "the usage report got through after two 429s")
        #expect(run.status == .failed && run.error?.contains("HTTP 529 after 3 attempts") == true, "\(run.error ?? "")")
        #expect(run.error?.contains("overloaded_error: busy") == true)
        // The policy (docs/api.md "Faults"; RetryPolicy): wait min(cap, base·2^(attempt−1)) × (0.5 + jitter/2), or the
        // provider's Retry-After when that is longer, never past the cap; base 100 ms, cap 10 s, 3 attempts here.
        //   messages, 429 Retry-After 7 after attempt 1: 100 × 0.875 = 87 < 7000        → 7000
        //   messages, 429 Retry-After 7 after attempt 2: 200 × 0.875 = 175 < 7000       → 7000
        //   cost report, 529 after attempt 1:            100 × (0.5 + 0.5/2)  = 100 × 0.75  → 75
        //   cost report, 529 after attempt 2:            200 × (0.5 + 0.25/2) = 200 × 0.625 → 125
        //   cost report, 529 at attempt 3: no wait, the run gives up.
        #expect(waits.sleeps == [7000, 7000, 75, 125])
        #expect(provider.urls.count == 6, "3 asks of the messages report (2 refused), 3 of the cost report")
    }

    @Test func backoffDoublesFromTheBaseUpToTheCapAndRetryAfterIsCappedToo() async throws {
        // Five refusals of the messages report, then its page; maxAttempts 6, base 1 s, cap 5 s.
        let provider = ScriptedProvider { url, n in
            if url.contains("cost_report") { return ok(#"{"data":[],"has_more":false,"next_page":null}"#) }
            switch n {
            case 1, 3, 5: return failure(503)
            case 2: return failure(429, retryAfter: "60")
            case 4: return failure(429, retryAfter: "1")
            default: return ok(anthropicPage(days: 20_400..<20_404, output: 5, next: nil))
            }
        }
        let (f, runner, c, waits) = try await setUp(
            provider, policy: RetryPolicy(maxAttempts: 6, baseMilliseconds: 1000, capMilliseconds: 5000),
            jitter: [0, 0.5, 0.75, 0.5, 0])
        let run = try await runner.run(c, from: range.0, to: range.1, trigger: .manual)
        #expect(run.status == .succeeded && run.error == nil, "\(run.error ?? "")")
        #expect(try await outputTotal(f) == 20)
        //   after 1, 503:                   1000 × (0.5 + 0/2)              → 500
        //   after 2, 429 Retry-After 60:    2000 × 0.75 = 1500 < 60 s, capped at 5 s → 5000
        //   after 3, 503:                   4000 × (0.5 + 0.75/2) = 4000 × 0.875 → 3500
        //   after 4, 429 Retry-After 1:     min(5000, 8000) × 0.75 = 3750 > 1 s, the longer wait → 3750
        //   after 5, 503:                   min(5000, 16000) × 0.5          → 2500
        #expect(waits.sleeps == [500, 5000, 3500, 3750, 2500])
        #expect(provider.urls.count == 7, "6 asks of the messages report, 1 of the cost report")
    }

    @Test func aMalformedPageStoresNothingOfItself() async throws {
        let provider = ScriptedProvider { url, _ in
            url.contains("page=p2")
                ? ok(
                    #"{"data":[{"starting_at":"2025-11-10T00:00:00Z","ending_at":"2025-11-11T00:00:00Z","results":[{"output_tokens":1}]}],"has_more":false,"next_page":null}"#
                )
                : ok(anthropicPage(days: 20_400..<20_402, output: 10, next: "p2"))
        }
        let (f, runner, c, _) = try await setUp(provider)
        let run = try await runner.run(c, from: range.0, to: range.1, trigger: .manual)
        #expect(
            run.status == .failed && run.error?.contains("uncached_input_tokens is missing") == true,
            "\(run.error ?? "")")
        #expect(try await outputTotal(f) == 20, "the first page is kept, nothing of the malformed one")
    }

    @Test func aRevokedKeyMarksTheConnectionAndNeverLeaksTheKey() async throws {
        let provider = ScriptedProvider { _, _ in
            TransportResponse(
                status: 401, headers: [:],
                body: Array(
                    #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-admin01-secretsecret"}}"#
                        .utf8))
        }
        let (f, runner, c, waits) = try await setUp(provider)
        let run = try await runner.run(c, from: range.0, to: range.1, trigger: .schedule)
        #expect(run.status == .failed && run.error?.contains("authentication_error") == true)
        #expect(run.error?.contains("secretsecret") == false, "\(run.error ?? "")")
        #expect(provider.urls.count == 1 && waits.sleeps.isEmpty, "401 is not retried")
        let marked = try await f.store.connection(organizationID: "org_default", id: "conn_a")
        #expect(marked?.validationError?.hasPrefix("needs a new admin key") == true)
    }

    @Test func leasesLetOneHolderAtATimeAndExpire() async throws {
        let (f, _, _, _) = try await setUp(ScriptedProvider { _, _ in ok("{}") })
        let now = Instant.now
        #expect(
            try await f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "r1", until: now.adding(seconds: 60), now: now))
        #expect(
            try await !f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "r2", until: now.adding(seconds: 60), now: now))
        #expect(
            try await f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "r1", until: now.adding(seconds: 90), now: now), "renewal")
        let later = now.adding(seconds: 120)
        #expect(
            try await f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "r2", until: later.adding(seconds: 60), now: later),
            "an expired lease is taken over")
        try await f.store.releaseSyncLease(connectionID: "conn_a", holder: "r2")
        #expect(
            try await f.store.acquireSyncLease(
                connectionID: "conn_a", holder: "r3", until: later.adding(seconds: 60), now: later))
    }
}
