import Crypto
import Logging
import TallyCore
import TallyPrice

/// The store a catalog update needs: the revisions, and the organizations' prices and events for the impact.
public typealias CatalogServiceStore = CatalogRevisionStore & PriceServiceStore

/// What an update would do (a preview) or did (applied): the revisions, the diff against the catalog in force, and
/// how many stored events a recompute would change.
public struct CatalogUpdate: Sendable, Equatable {
    public var revision: Instant
    public var currentRevision: Instant
    public var diff: CatalogDiff
    public var impact: RecomputeImpact
    public var applied: Bool
}

/// Stored events whose cost a recompute (over all time) would change, by model as stored.
public struct RecomputeImpact: Sendable, Equatable {
    public struct Model: Sendable, Equatable {
        public var model: String
        public var events: Int
    }
    public var events = 0
    public var byModel: [Model] = []
}

/// Newer revisions of the built-in catalog without a new binary: read and check a file, compare it with the catalog in
/// force, count what a recompute would change, store it and price with it at once; and, on every replica, switch to
/// the newest stored revision. The binary's own catalog is the floor: nothing older than the catalog in force applies.
public struct CatalogService<Store: CatalogServiceStore>: Sendable {
    public let store: Store
    public let pricer: CatalogPricer
    public let logger: Logger

    /// Who applies a revision read from TALLY_PRICES_URL (also how the origin `url` is told from `stored`).
    public static var urlActor: String { "TALLY_PRICES_URL" }

    public init(store: Store, pricer: CatalogPricer, logger: Logger = Logger(label: "tally.prices")) {
        self.store = store
        self.pricer = pricer
        self.logger = logger
    }

    /// Reads a catalog file; every problem becomes `invalid` naming the entry and the field.
    public static func read(_ bytes: [UInt8]) throws(TallyError) -> CatalogDocument {
        do { return try CatalogDocument.parse(bytes) } catch {
            let text = error.description
            guard let colon = text.firstRange(of: ": ") else {
                throw TallyError.invalid([FieldProblem(field: "body", reason: text)])
            }
            throw TallyError.invalid([
                FieldProblem(field: String(text[..<colon.lowerBound]), reason: String(text[colon.upperBound...]))
            ])
        }
    }

    /// How far ahead of this machine's clock a revision may be dated: a day, for clocks that disagree.
    static var futureRevisionTolerance: Int64 { 86_400_000_000 }

    /// The diff and the impact, changing nothing. `organizationIDs`: whose stored events count (one organization
    /// through the API, every one in the CLI). Throws `conflict` for a revision older than the one in force.
    public func preview(_ bytes: [UInt8], organizationIDs: [String]) async throws -> CatalogUpdate {
        let document = try Self.read(bytes)
        let current = pricer.inForce
        let diff = try Self.check(document, against: current)
        let candidate = CatalogInForce(document: document, origin: .stored)
        return CatalogUpdate(
            revision: document.revision, currentRevision: current.revision, diff: diff,
            impact: try await impact(of: candidate, organizationIDs: organizationIDs), applied: false)
    }

    /// Stores the file as the newest revision (with an audit record in `auditOrganizationID`) and prices with it at
    /// once; other replicas switch within their refresh interval. The same revision with the same content again is
    /// not an error: nothing changes and `applied` is false.
    public func apply(
        _ bytes: [UInt8], organizationIDs: [String], auditOrganizationID: String, actor: String
    ) async throws -> CatalogUpdate {
        var update = try await preview(bytes, organizationIDs: organizationIDs)
        guard update.revision != update.currentRevision else { return update }
        let sha = Self.sha256(bytes)
        let record = CatalogRevisionRecord(
            revision: update.revision, document: String(decoding: bytes, as: UTF8.self), sha256: sha,
            appliedAt: .now, appliedBy: actor)
        var w = JSONWriter()
        w.beginObject()
        w.field("revision", update.revision.rfc3339); w.field("previous", update.currentRevision.rfc3339)
        w.field("sha256", sha); w.field("added", update.diff.added.count); w.field("ended", update.diff.ended.count)
        w.field("changed", update.diff.changed.count)
        w.endObject()
        let audit = AuditRecord(
            id: Identifier.make("aud"), organizationID: auditOrganizationID, at: record.appliedAt, actor: actor,
            action: "price.catalog", detail: w.text)
        try await store.addCatalogRevision(record, audit: audit)
        pricer.replaceCatalog(ifNewer: try Self.inForce(record))
        logger.notice(
            "price catalog revision applied",
            metadata: ["revision": "\(update.revision.rfc3339)", "by": "\(actor)", "sha256": "\(sha)"])
        update.applied = true
        return update
    }

    /// Switches to the newest stored revision when it is newer than the catalog in force (at start, and on every
    /// replica each refresh interval). A stored file this binary cannot read is logged and the catalog kept.
    @discardableResult
    public func loadNewest() async throws -> Bool {
        let current = pricer.inForce
        guard let newest = try await store.newestCatalogRevision(newerThan: current.revision) else { return false }
        do {
            guard pricer.replaceCatalog(ifNewer: try Self.inForce(newest)) else { return false }
        } catch {
            logger.error(
                "the newest stored price catalog does not parse with this binary; keeping the one in force",
                metadata: ["revision": "\(newest.revision.rfc3339)", "problem": "\(error)"])
            return false
        }
        logger.notice(
            "price catalog switched to a stored revision",
            metadata: ["revision": "\(newest.revision.rfc3339)", "previous": "\(current.revision.rfc3339)"])
        return true
    }

    /// Whether this organization may apply a catalog to the whole instance: it is the organization created first
    /// (the instance's own); every other organization is a tenant and may only preview.
    public func isInstanceOrganization(_ organizationID: String) async throws -> Bool {
        try await store.organizationIDs().first == organizationID
    }

    // MARK: Parts

    static func inForce(_ record: CatalogRevisionRecord) throws(TallyError) -> CatalogInForce {
        CatalogInForce(
            document: try read(Array(record.document.utf8)),
            origin: record.appliedBy == urlActor ? .url : .stored, appliedAt: record.appliedAt,
            appliedBy: record.appliedBy, sha256: record.sha256)
    }

    /// The diff against the catalog in force, or `conflict` when the file cannot follow it: an older revision, or the
    /// revision in force with other content (a changed file needs a newer revision, or replicas would disagree).
    /// A revision dated ahead of `now` (beyond a day of clock skew) is refused: applied, it would keep out every real
    /// revision until that date.
    static func check(
        _ document: CatalogDocument, against current: CatalogInForce, now: Instant = .now
    ) throws(TallyError) -> CatalogDiff {
        let origin = current.origin.rawValue
        if document.revision.microseconds > now.microseconds + Self.futureRevisionTolerance {
            throw TallyError.invalid([
                FieldProblem(
                    field: "revision",
                    reason: "\(document.revision.rfc3339) is in the future; a catalog's revision is when it was made")
            ])
        }
        if document.revision < current.revision {
            throw TallyError.conflict(
                "catalog revision \(document.revision.rfc3339) is older than the catalog in force, revision "
                    + "\(current.revision.rfc3339) (\(origin)); an older catalog is never applied")
        }
        let diff = CatalogDiff(from: current.document, to: document)
        if document.revision == current.revision && !diff.isEmpty {
            throw TallyError.conflict(
                "catalog revision \(document.revision.rfc3339) is the one in force (\(origin)) with other content; "
                    + "give the changed file a newer revision")
        }
        return diff
    }

    /// Prices every stored event of these organizations with the candidate (and each organization's own entries, as
    /// in force now) and counts those whose cost or price entry would change: the recompute's dry run.
    func impact(of candidate: CatalogInForce, organizationIDs: [String]) async throws -> RecomputeImpact {
        let pricer = CatalogPricer(inForce: candidate)
        var byModel: [String: Int] = [:]
        var impact = RecomputeImpact()
        for org in organizationIDs {
            pricer.setOrganizationEntries(self.pricer.organizationEntries(org), organizationID: org)
            let result = try await PriceService(store: store, pricer: pricer).recompute(
                RepricingRequest(
                    from: Instant(microseconds: Int64.min / 2), to: Instant(microseconds: Int64.max / 2),
                    provider: nil, model: nil, dryRun: true),
                organizationID: org, actor: "preview")
            impact.events += result.changed
            for m in result.byModel where m.changed > 0 { byModel[m.model, default: 0] += m.changed }
        }
        impact.byModel = byModel.map { RecomputeImpact.Model(model: $0.key, events: $0.value) }
            .sorted { ($0.events, $1.model) > ($1.events, $0.model) }
        return impact
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

/// Catalog updates over any store, for the CLI (which holds its store as `any TallyStore`): every organization's
/// events count in the impact, and an applied revision is audited in the instance's own organization.
public enum CatalogTasks {
    public static func update(_ bytes: [UInt8], store: some CatalogServiceStore, apply: Bool, actor: String)
        async throws -> CatalogUpdate
    {
        let service = CatalogService(store: store, pricer: CatalogPricer())
        try await service.loadNewest()
        try await PriceService(store: store, pricer: service.pricer).reloadAll()
        let organizations = try await store.organizationIDs()
        guard apply else { return try await service.preview(bytes, organizationIDs: organizations) }
        guard let instance = organizations.first else {
            throw TallyError.unavailable("there is no organization yet: run tally serve once first")
        }
        return try await service.apply(
            bytes, organizationIDs: organizations, auditOrganizationID: instance, actor: actor)
    }
}
