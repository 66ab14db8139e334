import Crypto
import TallyCore

/// Captured bodies are sealed like provider keys (AES-256-GCM under the master key, a random nonce each), with the
/// organization, project, event and part bound as associated data: a body copied to another event's row, or the request
/// swapped with the response, does not open.
extension Vault {
    package enum ContentPart: String, Sendable { case request, response }

    package static func contentAssociatedData(
        organizationID: String, projectID: String, eventID: String, part: ContentPart
    ) -> [UInt8] {
        Array("tally.content.v1|\(organizationID)|\(projectID)|\(eventID)|\(part.rawValue)".utf8)
    }

    package func sealContent(
        _ plaintext: [UInt8], organizationID: String, projectID: String, eventID: String, part: ContentPart
    ) throws -> [UInt8] {
        let box = try AES.GCM.seal(
            plaintext, using: master.key, nonce: AES.GCM.Nonce(),
            authenticating: Self.contentAssociatedData(
                organizationID: organizationID, projectID: projectID, eventID: eventID, part: part))
        guard let combined = box.combined else { throw Failure.authenticationFailed }
        return Array(combined)
    }

    package func openContent(
        _ sealed: [UInt8], keyID: String, organizationID: String, projectID: String, eventID: String,
        part: ContentPart
    ) throws(Failure) -> [UInt8] {
        guard keyID == master.id else { throw .sealedUnderAnotherKey(stored: keyID, current: master.id) }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(
                try AES.GCM.open(
                    box, using: master.key,
                    authenticating: Self.contentAssociatedData(
                        organizationID: organizationID, projectID: projectID, eventID: eventID, part: part)))
        } catch {
            throw .authenticationFailed
        }
    }

    /// One event's bodies, sealed for the store: each cut at `limit` bytes (the cut marked), nil for a part not taken.
    package func sealEventContent(
        request: [UInt8]?, response: [UInt8]?, limit: Int, mode: ContentCapture, expiresAt: Instant,
        organizationID: String, projectID: String, eventID: String
    ) throws -> SealedEventContent {
        func seal(_ bytes: [UInt8]?, _ part: ContentPart) throws -> [UInt8]? {
            try bytes.map {
                try sealContent(
                    Array($0.prefix(limit)), organizationID: organizationID, projectID: projectID, eventID: eventID,
                    part: part)
            }
        }
        return SealedEventContent(
            keyID: master.id, request: try seal(request, .request), response: try seal(response, .response),
            requestTruncated: (request?.count ?? 0) > limit, responseTruncated: (response?.count ?? 0) > limit,
            mode: mode, expiresAt: expiresAt)
    }
}
