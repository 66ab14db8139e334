import Logging
import ServiceLifecycle
import TallyCore

/// Keeps this replica's copy of the organizations' own prices and of the price catalog current: another replica (or
/// the CLI) may change them. Each round reloads the organizations' entries and switches to a newer stored catalog
/// revision, so every replica prices with it within `interval` (TALLY_PRICES_REFRESH).
package struct PriceRefresher<Store: CatalogServiceStore>: Service {
    package let prices: PriceService<Store>
    package let catalog: CatalogService<Store>
    package let interval: Duration
    package let logger: Logger

    package init(prices: PriceService<Store>, catalog: CatalogService<Store>, interval: Duration, logger: Logger) {
        self.prices = prices
        self.catalog = catalog
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
            do {
                try await catalog.loadNewest()
            } catch {
                logger.warning("could not read the stored price catalog revisions", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
