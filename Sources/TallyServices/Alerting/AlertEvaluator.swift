import Logging
import ServiceLifecycle
import TallyCore

/// Runs the alert engine over every organization each `interval` (TALLY_ALERT_INTERVAL, default 1 min). Every
/// replica runs one; they need no lock, because an alert's unique key makes the second replica's write a no-op. A
/// failed round is logged and the next one runs as usual.
public struct AlertEvaluator<Store: AlertEngineStore>: Service {
    public let engine: AlertEngine<Store>
    public let interval: Duration
    public let logger: Logger

    public init(engine: AlertEngine<Store>, interval: Duration, logger: Logger) {
        self.engine = engine
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            await round()
        }
    }

    /// One evaluation of every organization at the current time; never throws.
    public func round() async {
        let started = ContinuousClock.now
        do {
            let fired = try await engine.evaluate(at: .now, dryRun: false)
            logger.debug(
                "alert evaluation finished",
                metadata: ["fired": "\(fired.count)", "duration": "\(ContinuousClock.now - started)"])
        } catch {
            logger.error("alert evaluation failed", metadata: ["error": "\(error)"])
        }
    }
}
