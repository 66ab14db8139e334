import Logging
import ServiceLifecycle
import TallyCore

/// Keeps this replica's copy of the organizations' own prices current: another replica (or the CLI) may change them.
package struct PriceRefresher<Store: TallyStore>: Service {
    package let prices: PriceService<Store>
    package let interval: Duration
    package let logger: Logger

    package init(prices: PriceService<Store>, interval: Duration, logger: Logger) {
        self.prices = prices
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await prices.reloadAll()
            } catch {
                logger.warning("could not reload organization prices", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
