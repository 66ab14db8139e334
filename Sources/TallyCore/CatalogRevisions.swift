/// A newer revision of the built-in price catalog, applied without a new binary (`tally prices update --apply`,
/// `POST /api/v1/prices/catalog`, TALLY_PRICES_URL). One row per applied revision; the newest revision wins.
public struct CatalogRevisionRecord: Sendable, Equatable {
    /// The catalog's own `revision` (an instant), unique.
    public var revision: Instant
    /// The file as given (UTF-8 JSON), so every replica parses the same bytes.
    public var document: String
    /// SHA-256 of `document`, hex.
    public var sha256: String
    public var appliedAt: Instant
    /// Who applied it: `user:<email>`, `token:<id>`, `cli`, or `TALLY_PRICES_URL`.
    public var appliedBy: String

    public init(revision: Instant, document: String, sha256: String, appliedAt: Instant, appliedBy: String) {
        self.revision = revision
        self.document = document
        self.sha256 = sha256
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
    }
}

/// The instance-wide catalog revisions. The catalog is the instance's, not an organization's: who may apply one is
/// decided by the service (`instanceOrganizationID`), and the audit record goes to the applying organization.
public protocol CatalogRevisionStore: Sendable {
    /// The applied revision with the latest `revision`, if it is later than `newerThan` (nil: any); else nil. Each
    /// replica asks this every refresh interval, so a file already in force is not read again.
    func newestCatalogRevision(newerThan: Instant?) async throws -> CatalogRevisionRecord?
    /// Stores a revision with its audit record in one transaction; `conflict` (storing nothing) when that revision or
    /// a later one is stored already: an update prepared against an older catalog cannot land after a newer one.
    func addCatalogRevision(_ record: CatalogRevisionRecord, audit: AuditRecord) async throws
    /// Every organization's id, the one created first first: the first is the instance's operator (see
    /// docs/api.md, "Who may apply a catalog"), and the CLI's impact counts cover them all.
    func organizationIDs() async throws -> [String]
}
