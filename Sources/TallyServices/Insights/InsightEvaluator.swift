import Logging
import ServiceLifecycle
import TallyCore

/// Computes every organization's insights once a day (at start-up too, when the last computation is older than a
/// day) and sends the weekly digests and scheduled statements (issue 20, `statements`) that are due, checking every
/// `interval` (TALLY_INSIGHT_INTERVAL, default 15 min). Every replica runs one: two computing at once record the
/// same findings (ids and keys are derived from the data), and a mailing's unique period row sends it once.
public struct InsightEvaluator<Store: InsightServiceStore & AlertChannelStore>: Service {
    public let insights: InsightService<Store>
    public let digest: WeeklyDigest<Store>
    public let interval: Duration
    public let logger: Logger
    /// Sends the scheduled statements due at an instant (`StatementMailer.sendDue`); answers how many mails went out.
    public var statements: (@Sendable (Instant) async throws -> Int)?

    public static var maxAge: Duration { .seconds(86_400) }

    public init(insights: InsightService<Store>, digest: WeeklyDigest<Store>, interval: Duration, logger: Logger) {
        self.insights = insights
        self.digest = digest
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await round()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One check at the current time; never throws.
    public func round() async {
        let now = Instant.now
        do {
            let computed = try await insights.computeStale(at: now, maxAge: Self.maxAge) { id, error in
                logger.error("insight computation failed", metadata: ["organization": "\(id)", "error": "\(error)"])
            }
            let sent = try await digest.sendDue(at: now)
            let mailed = try await statements?(now) ?? 0
            logger.debug(
                "insight check finished",
                metadata: ["computed": "\(computed)", "digests": "\(sent)", "statements": "\(mailed)"])
        } catch {
            logger.error("insight check failed", metadata: ["error": "\(error)"])
        }
    }
}
