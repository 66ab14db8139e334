import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TallyCore
import TallyProviders

/// The claim on a connection that lets one replica sync it at a time. Renewed after every page, so a holder that dies
/// frees the connection within this many seconds.
public enum SyncLease {
    public static let seconds: Int64 = 120
}

/// Pulls one connection's usage and cost reports over a range of UTC days and stores them, page by page: each
/// page's buckets replace what was stored for them, so an interrupted run redone gives the same tables.
/// The store a sync needs: the connections (a refused admin key is recorded on its connection), the runs, the leases
/// and the provider ledger.
public typealias SyncStore = ProviderSyncStore & ConnectionStore

public struct SyncRunner<Store: SyncStore>: Sendable {
    package let store: Store
    package let connections: ConnectionService<Store>
    package let vault: Vault?
    package let pricer: any Pricer
    package let transport: any ReportTransport
    package let policy: RetryPolicy
    package let logger: Logger
    /// Waits between attempts; tests pass one that does not sleep.
    package let sleep: @Sendable (Int64) async throws -> Void
    /// The jitter, in [0, 1), drawn once per wait; tests pass a scripted one so the waits are exact.
    package let random: @Sendable () -> Double

    public init(
        store: Store, connections: ConnectionService<Store>, vault: Vault?, pricer: any Pricer,
        transport: any ReportTransport = LiveReportTransport(http: .lasting(UpstreamAddressPolicy())),
        policy: RetryPolicy = RetryPolicy(), logger: Logger,
        sleep: @escaping @Sendable (Int64) async throws -> Void = { try await Task.sleep(for: .milliseconds($0)) },
        random: @escaping @Sendable () -> Double = { .random(in: 0..<1) }
    ) {
        self.store = store
        self.connections = connections
        self.vault = vault
        self.pricer = pricer
        self.transport = transport
        self.policy = policy
        self.logger = logger
        self.sleep = sleep
        self.random = random
    }

    /// Why a run stopped. Messages are the provider's own, with any echo of the key removed.
    package enum Failure: Error {
        /// 401/403: the key no longer works; the connection is marked and not retried until it gets a new one.
        case keyRejected(String)
        case gaveUp(String)
        case refused(String)
        case malformed(String)
        case unusable(String)

        package var message: String {
            switch self {
            case .keyRejected(let m): "the provider refused the admin key: \(m)"
            case .gaveUp(let m), .refused(let m), .malformed(let m), .unusable(let m): m
            }
        }
    }

    /// Whole UTC days covering `[from, to)`.
    public static func days(from: Instant, to: Instant) -> (from: Instant, to: Instant) {
        let day: Int64 = 86_400
        let start = floorDiv(from.seconds, day) * day
        let end = -floorDiv(-to.seconds, day) * day
        return (Instant(seconds: start), Instant(seconds: max(end, start + day)))
    }

    /// Runs one sync of `connection` and records it; returns the finished run (succeeded or failed). The caller holds
    /// the connection's lease as `leaseHolder` (renewed here after each page); any other run still marked running
    /// was interrupted (its server stopped), and is marked so.
    public func run(
        _ connection: ProviderConnection, from: Instant, to: Instant, trigger: SyncTrigger,
        leaseHolder: String? = nil
    ) async throws -> SyncRun {
        let range = Self.days(from: from, to: to)
        for var stale in try await store.syncRuns(
            organizationID: connection.organizationID, connectionID: connection.id, limit: 50)
        where stale.status == .running {
            stale.status = .failed
            stale.finishedAt = .now
            stale.error = "interrupted: the server stopped during the run; a later run redoes its range"
            try await store.updateSyncRun(stale)
        }
        var run = SyncRun(
            id: Identifier.make("sync"), organizationID: connection.organizationID, connectionID: connection.id,
            trigger: trigger, from: range.from, to: range.to, startedAt: .now)
        try await store.createSyncRun(run)
        do {
            let key = try adminKey(connection)
            let base = connection.baseURL ?? connection.provider.api.defaultBaseURL
            for report in ProviderReport.reports(for: connection.provider) {
                try await pull(
                    report, connection: connection, base: base, key: key, range: range, run: &run,
                    leaseHolder: leaseHolder)
            }
            run.status = .succeeded
        } catch let failure as Failure {
            run.status = .failed
            run.error = failure.message
            if case .keyRejected(let message) = failure {
                var c = connection
                let now = Instant.now
                c.record(.adminKeyRejected(message), at: now)
                c.updatedAt = now
                try await store.updateConnection(
                    c,
                    audit: .make(
                        organizationID: c.organizationID, actor: "sync",
                        action: "connection.key_rejected", detail: [("id", .string(c.id))]))
            }
        }
        run.finishedAt = .now
        try await store.updateSyncRun(run)
        logger.info(
            "provider sync finished",
            metadata: [
                "connection": "\(connection.id)", "status": "\(run.status.rawValue)", "pages": "\(run.pages)",
                "rows": "\(run.rows)",
            ])
        return run
    }

    package func adminKey(_ c: ProviderConnection) throws(Failure) -> String {
        guard c.provider.api.organizationReports != nil else {
            throw .unusable("\(c.provider.api.displayName) has no organization usage API to sync")
        }
        guard let vault else { throw .unusable("no master key is configured, so the admin key cannot be read") }
        guard let key = (try? connections.secrets(c, vault: vault))?.adminKey else {
            throw .unusable("the connection has no admin key (OpenAI sk-admin-…, Anthropic sk-ant-admin…)")
        }
        return key
    }

    package func pull(
        _ report: ProviderReport, connection c: ProviderConnection, base: String, key: String,
        range: (from: Instant, to: Instant), run: inout SyncRun, leaseHolder: String?
    ) async throws {
        var page: String?
        var seen = Set<String>()
        repeat {
            let request = ReportQueries.request(
                report, baseURL: base, key: key, from: range.from, to: range.to, page: page)
            let body = try await fetch(request, key: key)
            let json: JSONValue
            do { json = try JSONParser.parse(body) } catch {
                throw Failure.malformed(
                    "\(report.rawValue): the answer is not JSON (\(error.reason) at byte \(error.offset))")
            }
            do {
                if report.isCost {
                    let decoded = try report.api.decodeCosts(json, report: report)
                    try await store.replaceProviderCosts(
                        organizationID: c.organizationID, connectionID: c.id, report: report,
                        buckets: decoded.buckets)
                    run.rows += Int64(decoded.buckets.reduce(0) { $0 + $1.rows.count })
                    page = decoded.nextPage
                } else {
                    let decoded = try report.api.decodeUsage(json, report: report)
                    let priced = decoded.buckets.map { bucket in
                        ProviderBucket(
                            start: bucket.start, end: bucket.end,
                            rows: bucket.rows.map { price($0, provider: c.provider, org: c.organizationID) })
                    }
                    try await store.replaceProviderUsage(
                        organizationID: c.organizationID, connectionID: c.id, report: report, buckets: priced)
                    run.rows += Int64(decoded.buckets.reduce(0) { $0 + $1.rows.count })
                    page = decoded.nextPage
                }
            } catch let e as MalformedReport {
                throw Failure.malformed("\(report.rawValue): \(e.description)")
            }
            run.pages += 1
            try await store.updateSyncRun(run)
            if let holder = leaseHolder {
                let now = Instant.now
                _ = try await store.acquireSyncLease(
                    connectionID: c.id, holder: holder, until: now.adding(seconds: SyncLease.seconds), now: now)
            }
            if let p = page {
                // A cursor seen twice would loop for ever.
                guard seen.insert(p).inserted else {
                    throw Failure.malformed("\(report.rawValue): next_page repeats \(p)")
                }
            }
        } while page != nil
    }

    /// The catalog's estimate for a reported row, as for an event at the bucket's start.
    package func price(_ row: ProviderUsageRow, provider: ProviderKind, org: String) -> PricedProviderUsageRow {
        guard let model = row.model, row.unit == nil || row.unit == "web_search_requests" else {
            return PricedProviderUsageRow(row: row, cost: nil, priceID: nil)
        }
        var event = UsageEvent(id: "report", timestamp: row.bucketStart, provider: provider.rawValue, model: model)
        event.usage = row.usage
        event.usage.requests = max(row.usage.requests, 1)
        event.batch = row.batch ?? (row.serviceTier == "batch")
        event.serviceTier = row.serviceTier
        // Anthropic's report counts no requests but says which context window a row was billed in: the row is many
        // requests, so its summed input must not choose the long-context rates (issue 25: a day of 0-200k prompts
        // was priced at the 200k-1M rates once it added up past 200k tokens).
        let longContext: Bool? =
            switch row.contextWindow?.lowercased() {
            case "0-200k": false
            case "200k-1m": true
            default: nil
            }
        let quote = pricer.quote(event, organizationID: org, longContext: longContext)
        return PricedProviderUsageRow(row: row, cost: quote?.cost, priceID: quote?.priceID)
    }

    /// One request with retries: 429 and 5xx (and timeouts) back off exponentially with jitter, honouring
    /// `Retry-After`, up to the policy's attempts; 401/403 stop at once.
    package func fetch(_ request: ReportQueries.Request, key: String) async throws -> [UInt8] {
        var attempt = 0
        while true {
            attempt += 1
            let outcome: TransportResponse
            do {
                outcome = try await transport.get(request.url, headers: request.headers, timeout: .seconds(60))
            } catch let refused as UpstreamRefused {
                // Not retried: the address will not become allowed by waiting.
                throw Failure.refused("upstream_not_allowed: \(refused)")
            } catch {
                guard attempt < policy.maxAttempts else {
                    throw Failure.gaveUp("\(ProviderValidator.describe(error)) after \(attempt) attempts")
                }
                try await sleep(
                    policy.delayMilliseconds(afterAttempt: attempt, retryAfterSeconds: nil, random: random()))
                continue
            }
            if (200..<300).contains(outcome.status) { return outcome.body }
            if (300..<400).contains(outcome.status) {
                throw Failure.refused(
                    "HTTP \(outcome.status): redirects are not followed, so the admin key goes only to the base_url")
            }
            let message = ProviderValidator.errorMessage(outcome.body, hiding: key) ?? "HTTP \(outcome.status)"
            if outcome.status == 401 || outcome.status == 403 { throw Failure.keyRejected(message) }
            guard RetryPolicy.isRetryable(status: outcome.status) else {
                throw Failure.refused("HTTP \(outcome.status): \(message)")
            }
            guard attempt < policy.maxAttempts else {
                throw Failure.gaveUp("HTTP \(outcome.status) after \(attempt) attempts: \(message)")
            }
            let retryAfter = outcome.headers["retry-after"].flatMap(Double.init)
            try await sleep(
                policy.delayMilliseconds(afterAttempt: attempt, retryAfterSeconds: retryAfter, random: random()))
        }
    }
}

public struct TransportResponse: Sendable {
    public var status: Int
    /// Header names lowercased.
    public var headers: [String: String]
    public var body: [UInt8]
    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// How the runner reaches a provider; the live one is AsyncHTTPClient.
public protocol ReportTransport: Sendable {
    func get(_ url: String, headers: [String: String], timeout: TimeAmount) async throws -> TransportResponse
}

/// Over the network, under the upstream address policy and without following redirects.
public struct LiveReportTransport: ReportTransport {
    package let http: UpstreamHTTP
    public init(http: UpstreamHTTP) { self.http = http }

    public func get(_ url: String, headers: [String: String], timeout: TimeAmount) async throws -> TransportResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 << 20)
        var names: [String: String] = [:]
        for h in response.headers { names[h.name.lowercased()] = h.value }
        return TransportResponse(status: Int(response.status.code), headers: names, body: Array(body.readableBytesView))
    }
}
