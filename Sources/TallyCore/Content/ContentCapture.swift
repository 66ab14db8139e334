/// Whether a project's gateway calls keep their request and response bodies (issue 21). Off by default: off means no
/// byte of a body is written anywhere, logs included.
public enum ContentCapture: String, Sendable, CaseIterable, Equatable {
    case off
    /// What the built-in detectors (and the organization's keyword and pattern filters) find is replaced before sealing.
    case redacted
    case full
}

/// A project's content settings, as `PATCH /api/v1/projects/{id}` writes them.
public struct ContentSettings: Sendable, Equatable {
    public var capture: ContentCapture
    /// Days a captured body is kept; the janitor deletes it after (1…3650).
    public var retentionDays: Int

    public static let defaultRetentionDays = 30
    public static let retentionDays = 1...3650
    public static let off = ContentSettings(capture: .off, retentionDays: defaultRetentionDays)

    public init(capture: ContentCapture, retentionDays: Int) {
        self.capture = capture
        self.retentionDays = retentionDays
    }
}

/// One event's captured bodies, sealed (AES-256-GCM under the vault's master key, the organization, project and event
/// bound as associated data): what the store keeps. Never in exports.
public struct SealedEventContent: Sendable, Equatable {
    /// The master key's id the bodies were sealed under.
    public var keyID: String
    /// Nonce, ciphertext and tag of the request body, then of the response body (nil: the call had none).
    public var request: [UInt8]?
    public var response: [UInt8]?
    /// Whether a body passed the capture limit and was cut (`truncated` mark).
    public var requestTruncated: Bool
    public var responseTruncated: Bool
    /// The capture mode the bodies were taken in.
    public var mode: ContentCapture
    /// When the janitor deletes them.
    public var expiresAt: Instant

    public init(
        keyID: String, request: [UInt8]?, response: [UInt8]?, requestTruncated: Bool, responseTruncated: Bool,
        mode: ContentCapture, expiresAt: Instant
    ) {
        self.keyID = keyID
        self.request = request
        self.response = response
        self.requestTruncated = requestTruncated
        self.responseTruncated = responseTruncated
        self.mode = mode
        self.expiresAt = expiresAt
    }
}

/// Captured bodies: written with their events (`StoredEvent.content`, in the insert's transaction), read one event at
/// a time by an admin, deleted after their retention.
public protocol EventContentStore: Sendable {
    /// The sealed bodies of one event of the organization (nil: none were captured, or they have expired).
    func eventContent(organizationID: String, projectID: String, eventID: String) async throws
        -> SealedEventContent?
    /// Deletes every body whose retention ended before `now`; answers how many events' bodies went.
    func deleteExpiredContent(now: Instant) async throws -> Int
    /// A project's capture settings (every project of the organization; absent: off).
    func contentSettings(organizationID: String) async throws -> [String: ContentSettings]
    func setContentSettings(organizationID: String, projectID: String, _ settings: ContentSettings) async throws
}
