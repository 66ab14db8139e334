import Logging
import ServiceLifecycle
import Synchronization
import TallyCore

/// What the deliverer reads: the outbox, the alerts and channels, and the names a message shows.
public typealias AlertDeliveryReading = AlertStore & AlertChannelStore & AlertDeliveryStore & BudgetStore
    & OrganizationStore & ProjectStore

/// When a failed attempt is tried again, and when to stop.
public struct AlertRetryPolicy: Sendable, Equatable {
    /// The first retry's delay; each further one doubles it (TALLY_ALERT_RETRY_BASE_SECONDS, default 30).
    public var baseSeconds: Int64 = 30
    /// No delay is longer than this.
    public var capSeconds: Int64 = 3600
    /// Retries stop this long after the alert fired: the delivery then fails.
    public var giveUpSeconds: Int64 = 86_400

    public init(baseSeconds: Int64 = 30, capSeconds: Int64 = 3600, giveUpSeconds: Int64 = 86_400) {
        self.baseSeconds = baseSeconds
        self.capSeconds = capSeconds
        self.giveUpSeconds = giveUpSeconds
    }

    /// The delay before attempt `attempts + 1`: base · 2^(attempts−1), capped, then ±20% jitter so the deliveries
    /// of one outage do not all come back at the same second.
    public func delay(afterAttempts attempts: Int, jitter: Double = Double.random(in: 0.8...1.2)) -> Int64 {
        let exponent = min(max(attempts - 1, 0), 30)
        let raw = min(capSeconds, baseSeconds.multipliedReportingOverflow(by: 1 << Int64(exponent)).partialValue)
        let bounded = raw <= 0 ? capSeconds : raw
        return max(1, Int64((Double(bounded) * jitter).rounded()))
    }

    /// The delivery after an attempt with this outcome.
    public func finished(_ delivery: AlertDelivery, _ outcome: DeliveryOutcome, firedAt: Instant, at now: Instant)
        -> AlertDelivery
    {
        var d = delivery
        d.attempts += 1
        switch outcome {
        case .delivered:
            d.status = .delivered
            d.deliveredAt = now
            d.lastError = nil
        case .failed(_, let error):
            d.status = .failed
            d.lastError = error
        case .retry(_, let error, let after):
            // The receiver's Retry-After, when longer than the backoff, wins (never past the cap).
            let wait = max(delay(afterAttempts: d.attempts), min(after ?? 0, capSeconds))
            let next = now.adding(seconds: wait)
            if next > firedAt.adding(seconds: giveUpSeconds) {
                d.status = .failed
                d.lastError = "gave up after \(giveUpSeconds / 3600) hours of retries: \(error)"
            } else {
                d.status = .pending
                d.lastError = error
                d.nextAttemptAt = next
            }
        }
        return d
    }
}

/// Delivers alerts: a swift-service-lifecycle `Service` that claims due deliveries from the outbox (any replica may;
/// a claim keeps the others off a row until it expires), renders each alert for its channel, sends it, and writes
/// the result: delivered, pending again with the next attempt after a backoff (timeouts, 429, 5xx, an SMTP server
/// that is down), or failed (other answers, 24 hours of retries, a deleted channel, a secret that does not open).
/// `wake()` makes it look at once (the engine calls it after recording an alert).
public final class AlertDeliverer<Store: AlertDeliveryReading>: Service, Sendable {
    package let store: Store
    package let sender: AlertSender
    package let vault: Vault?
    package let publicURL: String
    package let retry: AlertRetryPolicy
    /// How often it looks for due deliveries when nobody wakes it.
    package let pollInterval: Duration
    package let logger: Logger
    /// Who claims deliveries: this process.
    package let holder = Identifier.make("replica")
    /// A claim outlives any one send (mail to 20 recipients at 30 s each fits in it).
    package let claimSeconds: Int64 = 900
    package let batch = 16
    private let woken = Atomic<Bool>(false)

    public init(
        store: Store, sender: AlertSender, vault: Vault?, publicURL: String,
        retry: AlertRetryPolicy = AlertRetryPolicy(),
        pollInterval: Duration = .seconds(5), logger: Logger
    ) {
        self.store = store
        self.sender = sender
        self.vault = vault
        self.publicURL = publicURL
        self.retry = retry
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Look for due deliveries now.
    public func wake() { woken.store(true, ordering: .relaxed) }

    /// A pass in flight finishes its sends and writes their results on shutdown; the wait between passes ends at once.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Deliver until nothing is due, then wait for a wake-up or the poll interval.
            while await deliverDue(now: .now) > 0, !Task.isShuttingDownGracefully, !Task.isCancelled {}
            await waitForWork()
        }
    }

    /// Sleeps in short steps until woken or the poll interval has passed.
    private func waitForWork() async {
        let deadline = ContinuousClock.now + pollInterval
        while ContinuousClock.now < deadline, !woken.exchange(false, ordering: .relaxed), !Task.isCancelled,
            !Task.isShuttingDownGracefully
        {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// One pass: claims what is due, attempts each (at once), writes each result. Returns how many were attempted.
    @discardableResult
    public func deliverDue(now: Instant) async -> Int {
        let claimed: [AlertDelivery]
        do {
            claimed = try await store.claimDueDeliveries(
                holder: holder, now: now, until: now.adding(seconds: claimSeconds), limit: batch)
        } catch {
            logger.warning("alert delivery could not claim deliveries; will retry", metadata: ["error": "\(error)"])
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for delivery in claimed { group.addTask { await self.attempt(delivery) } }
        }
        return claimed.count
    }

    func attempt(_ delivery: AlertDelivery) async {
        let outcome = await send(delivery)
        // The delivery was written with its alert, so its creation is when the alert fired.
        let result = retry.finished(delivery, outcome, firedAt: delivery.createdAt, at: .now)
        do {
            try await store.finishDelivery(result, holder: holder)
        } catch {
            logger.warning(
                "alert delivery result not written",
                metadata: ["delivery": "\(delivery.id)", "alert": "\(delivery.alertID)", "error": "\(error)"])
        }
        if case .delivered = outcome { return }
        logger.notice(
            "alert delivery attempt failed",
            metadata: [
                "delivery": "\(delivery.id)", "alert": "\(delivery.alertID)", "channel": "\(delivery.channelID)",
                "status": "\(result.status.rawValue)", "error": "\(outcome.error ?? "")",
            ])
    }

    /// Reads what the message needs and sends it; anything missing is an outcome, never a throw.
    func send(_ delivery: AlertDelivery) async -> DeliveryOutcome {
        let org = delivery.organizationID
        do {
            guard let alert = try await store.alert(organizationID: org, id: delivery.alertID) else {
                return .failed(status: nil, error: "alert deleted")
            }
            guard let channel = try await store.alertChannel(organizationID: org, id: delivery.channelID) else {
                return .failed(status: nil, error: "channel deleted")
            }
            guard let organization = try await store.organization(id: org) else {
                return .failed(status: nil, error: "organization deleted")
            }
            let secret: String?
            switch openSecret(channel) {
            case .success(let s): secret = s
            case .failure(let failure): return failure.outcome
            }
            let budgetName = try await alert.budgetID.asyncMap {
                try await store.budget(organizationID: org, id: $0)?.name
            }
            var projectNames: [String: String] = [:]
            if alert.scope[.project] != nil {
                for p in try await store.projects(organizationID: org) { projectNames[p.id] = p.name }
            }
            let message = AlertMessage(
                alert: alert, organization: organization, budgetName: budgetName ?? nil, projectNames: projectNames,
                publicURL: publicURL)
            return await sender.send(message, to: channel, secret: secret, at: .now)
        } catch {
            return .retry(status: nil, error: "the database could not be read; will retry")
        }
    }

    /// The channel's secret opened, or the failure a delivery records.
    func openSecret(_ channel: AlertChannel) -> Result<String?, DeliveryOutcomeFailure> {
        guard let sealed = channel.sealedSecret else { return .success(nil) }
        guard let vault else {
            return .failure(
                DeliveryOutcomeFailure(
                    .failed(status: nil, error: "the channel's secret cannot be opened: no master key is configured")))
        }
        do {
            return .success(
                try vault.openChannelSecret(sealed, organizationID: channel.organizationID, channelID: channel.id))
        } catch {
            return .failure(
                DeliveryOutcomeFailure(.failed(status: nil, error: "the channel's secret cannot be opened: \(error)")))
        }
    }

    /// A channel's test message, sent now (`POST /api/v1/alert-channels/{id}/test`); nothing is recorded.
    public func test(_ channel: AlertChannel) async throws -> DeliveryOutcome {
        guard let organization = try await store.organization(id: channel.organizationID) else {
            throw TallyError.notFound("organization")
        }
        let now = Instant.now
        let message = AlertMessage.test(channel: channel, organization: organization, publicURL: publicURL, at: now)
        switch openSecret(channel) {
        case .success(let secret): return await sender.send(message, to: channel, secret: secret, at: now)
        case .failure(let failure): return failure.outcome
        }
    }
}

/// An outcome carried as a `Result`'s failure.
public struct DeliveryOutcomeFailure: Error, Sendable {
    public let outcome: DeliveryOutcome
    init(_ outcome: DeliveryOutcome) { self.outcome = outcome }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
