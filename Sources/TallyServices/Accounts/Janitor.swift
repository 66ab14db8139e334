import Logging
import ServiceLifecycle
import TallyCore

/// Removes expired sessions, old login failures, finished sign-in flows, audit records past their retention and policy hits older than 90
/// days, hourly.
package struct Janitor<Store: SessionStore & AuditStore & PolicyStore & EventContentStore & SignInStore>: Service {
    package let store: Store
    package let policy: SessionPolicy
    package let auditRetentionDays: Int
    package let logger: Logger

    package init(store: Store, policy: SessionPolicy, auditRetentionDays: Int, logger: Logger) {
        self.store = store
        self.policy = policy
        self.auditRetentionDays = auditRetentionDays
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let now = Instant.now.microseconds
            do {
                try await store.deleteSessions(
                    lastSeenBefore: Instant(microseconds: now - policy.idleMicroseconds),
                    createdBefore: Instant(microseconds: now - policy.absoluteMicroseconds))
                try await store.deleteLoginFailures(before: Instant(microseconds: now - 86_400_000_000))
                // Single sign-on flows and second-step challenges past their minutes, mailed links a month after.
                try await store.deleteExpiredSignInState(before: Instant(microseconds: now))
                try await store.deleteAuditRecords(
                    before: Instant(microseconds: now - Int64(auditRetentionDays) * 86_400_000_000))
                _ = try await PolicyHitRetention.deleteOld(store, now: Instant(microseconds: now))
                // Captured bodies past their project's retention (issue 21); reads refuse them from that moment too.
                let bodies = try await store.deleteExpiredContent(now: Instant(microseconds: now))
                if bodies > 0 {
                    logger.info("captured bodies past their retention deleted", metadata: ["events": "\(bodies)"])
                }
            } catch {
                logger.warning("housekeeping failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
