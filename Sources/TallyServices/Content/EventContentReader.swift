import TallyCore

/// One event's captured bodies, opened: what an admin reads on the event page and from
/// `GET /api/v1/events/{id}/content`. Text, never markup: pages escape it, the API carries it as JSON strings.
public struct OpenedContent: Sendable, Equatable {
    public var request: String?
    public var response: String?
    public var requestTruncated: Bool
    public var responseTruncated: Bool
    public var mode: ContentCapture
    public var expiresAt: Instant

    public init(
        request: String?, response: String?, requestTruncated: Bool, responseTruncated: Bool, mode: ContentCapture,
        expiresAt: Instant
    ) {
        self.request = request
        self.response = response
        self.requestTruncated = requestTruncated
        self.responseTruncated = responseTruncated
        self.mode = mode
        self.expiresAt = expiresAt
    }
}

/// Opens captured bodies for an admin and audits every reading (`event.content.view`, with the event's id: who read
/// which call's content, and when). Members and viewers never reach it: the callers require `manageContent`.
public struct EventContentReader<Store: EventContentStore & AuditStore>: Sendable {
    public let store: Store
    public let vault: Vault?

    public init(store: Store, vault: Vault?) {
        self.store = store
        self.vault = vault
    }

    /// nil when the event has no captured bodies (capture was off, or they have expired).
    public func open(_ event: StoredEvent, actor: String) async throws -> OpenedContent? {
        guard
            let sealed = try await store.eventContent(
                organizationID: event.organizationID, projectID: event.projectID, eventID: event.event.id)
        else { return nil }
        guard let vault else {
            throw TallyError.unavailable("captured content needs the master key (TALLY_MASTER_KEY)")
        }
        func open(_ bytes: [UInt8]?, _ part: Vault.ContentPart) throws -> String? {
            guard let bytes else { return nil }
            do {
                let plain = try vault.openContent(
                    bytes, keyID: sealed.keyID, organizationID: event.organizationID, projectID: event.projectID,
                    eventID: event.event.id, part: part)
                return String(decoding: plain, as: UTF8.self)
            } catch {
                throw TallyError.unavailable("the captured \(part.rawValue) cannot be opened: \(error)")
            }
        }
        let opened = OpenedContent(
            request: try open(sealed.request, .request), response: try open(sealed.response, .response),
            requestTruncated: sealed.requestTruncated, responseTruncated: sealed.responseTruncated, mode: sealed.mode,
            expiresAt: sealed.expiresAt)
        try await store.recordAudit(
            .make(
                organizationID: event.organizationID, actor: actor, action: "event.content.view",
                detail: [("event", .string(event.event.id)), ("project", .string(event.projectID))]))
        return opened
    }
}
