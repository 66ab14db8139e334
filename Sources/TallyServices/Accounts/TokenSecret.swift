import Crypto
import TallyCore

/// API token secrets: shown once, stored only as a SHA-256 hash.
public enum TokenSecret {
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        // 43 characters of base62 carry more than 256 bits of randomness.
        let body = (0..<43).map { _ in alphabet[Int(rng.next(upperBound: UInt8(alphabet.count)))] }
        return "tly_" + String(decoding: body, as: UTF8.self)
    }

    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Array(secret.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Creates a token for a project and returns its secret; the caller shows it once.
    public static func issue(
        store: some ProjectStore & TokenStore, organizationID: String, projectName: String, scopes: Set<Scope>,
        name: String?,
        expiresAt: Instant? = nil, createdBy: String? = nil
    ) async throws -> (token: APIToken, secret: String) {
        guard let project = try await store.project(organizationID: organizationID, name: projectName) else {
            throw TallyError.notFound("project '\(projectName)'")
        }
        let secret = generate()
        let token = APIToken(
            id: Identifier.make("tok", length: 16), organizationID: organizationID, projectID: project.id,
            projectName: project.name, name: name, scopes: scopes, hint: String(secret.suffix(4)), createdAt: .now,
            expiresAt: expiresAt, createdBy: createdBy
        )
        try await store.createToken(token, secretHash: hash(secret))
        return (token, secret)
    }
}
