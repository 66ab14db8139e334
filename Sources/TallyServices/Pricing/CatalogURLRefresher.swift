import Logging
import ServiceLifecycle
import Synchronization
import TallyCore
import TallyPrice

/// How the last read of TALLY_PRICES_URL went, for `/readyz`'s details.
public final class CatalogURLStatus: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var checkedAt: Instant?
        /// The revision the URL served, when it could be read.
        public var revision: Instant?
        /// Why the last attempt kept the catalog in force; nil when it succeeded (or none ran yet).
        public var error: String?
    }

    private let state = Mutex(Snapshot())
    public init() {}
    public var snapshot: Snapshot { state.withLock { $0 } }
    func record(_ snapshot: Snapshot) { state.withLock { $0 = snapshot } }
}

/// TALLY_PRICES_URL: fetches the catalog at start and then daily, and applies it when it is newer. A failure (the
/// network, a malformed file, an older revision) keeps the catalog in force, is logged and shown on `/readyz`; it
/// never stops the server.
package struct CatalogURLRefresher<Store: CatalogServiceStore>: Service {
    package let catalog: CatalogService<Store>
    package let url: String
    package let status: CatalogURLStatus
    package let interval: Duration
    package let logger: Logger

    package init(
        catalog: CatalogService<Store>, url: String, status: CatalogURLStatus, interval: Duration = .seconds(86_400),
        logger: Logger
    ) {
        self.catalog = catalog
        self.url = url
        self.status = status
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await refresh()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One fetch-and-apply; whatever happens is recorded in `status`.
    package func refresh() async {
        let bytes: [UInt8]
        do { bytes = try await CatalogSource.fetch(url) } catch {
            return record(CatalogURLStatus.Snapshot(checkedAt: .now), failure: error)
        }
        await apply(bytes)
    }

    /// Applies what the URL served when it is newer; a failure keeps the catalog in force.
    package func apply(_ bytes: [UInt8]) async {
        var snapshot = CatalogURLStatus.Snapshot(checkedAt: .now)
        do {
            let document = try CatalogService<Store>.read(bytes)
            snapshot.revision = document.revision
            guard let instance = try await catalog.store.organizationIDs().first else {
                throw TallyError.unavailable("no organization yet to record the change in")
            }
            do {
                let update = try await catalog.apply(
                    bytes, organizationIDs: [], auditOrganizationID: instance, actor: CatalogService<Store>.urlActor)
                if update.applied {
                    logger.notice(
                        "applied the price catalog from TALLY_PRICES_URL",
                        metadata: ["url": "\(CatalogSource.redacted(url))", "revision": "\(document.revision.rfc3339)"])
                }
            } catch TallyError.conflict(let message) {
                // Another replica stored the same revision first: switching to it is the same outcome.
                try await catalog.loadNewest()
                guard catalog.pricer.inForce.revision == document.revision else { throw TallyError.conflict(message) }
            }
        } catch {
            return record(snapshot, failure: error)
        }
        status.record(snapshot)
    }

    func record(_ snapshot: CatalogURLStatus.Snapshot, failure: any Error) {
        var snapshot = snapshot
        snapshot.error = Self.describe(failure)
        logger.error(
            "TALLY_PRICES_URL: kept the price catalog in force",
            metadata: ["url": "\(CatalogSource.redacted(url))", "problem": "\(snapshot.error!)"])
        status.record(snapshot)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as CatalogSource.Failure: e.description
        case TallyError.invalid(let problems): problems.map { "\($0.field): \($0.reason)" }.joined(separator: "; ")
        case TallyError.conflict(let message), TallyError.unavailable(let message): message
        default: "\(type(of: error))"
        }
    }
}
