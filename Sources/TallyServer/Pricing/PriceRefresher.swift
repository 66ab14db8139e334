import Logging
import ServiceLifecycle
import TallyCore

/// Keeps this replica's copy of the organizations' own prices current: another replica (or the CLI) may change them.
struct PriceRefresher<Store: TallyStore>: Service {
    let prices: PriceService<Store>
    let interval: Duration
    let logger: Logger

    func run() async throws {
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
