import Crypto
import Hummingbird
import Synchronization
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
        store: some TallyStore, organizationID: String, projectName: String, scopes: Set<Scope>, name: String?
    ) async throws -> (token: APIToken, secret: String) {
        guard let project = try await store.project(organizationID: organizationID, name: projectName) else {
            throw TallyError.notFound("project '\(projectName)'")
        }
        let secret = generate()
        let token = APIToken(
            id: Identifier.make("tok", length: 16), organizationID: organizationID, projectID: project.id,
            projectName: project.name, name: name, scopes: scopes, hint: String(secret.suffix(4)), createdAt: .now
        )
        try await store.createToken(token, secretHash: hash(secret))
        return (token, secret)
    }
}

/// Checks the bearer token of each API request against the store (so a revocation holds at once on
/// every replica) and the scope the route needs.
public struct TokenAuthenticator<Store: TallyStore>: Sendable {
    let store: Store
    /// Last-used times are written at most once a minute per token, not on every request.
    private let lastRecorded = LastUse()

    final class LastUse: Sendable {
        let times = Mutex<[String: Int64]>([:])
    }

    public init(store: Store) { self.store = store }

    public func require(_ scope: Scope, _ request: Request) async throws -> APIToken {
        guard let header = request.headers[.authorization], header.count > 7,
              header.prefix(7).lowercased() == "bearer "
        else { throw TallyError.unauthenticated }
        let secret = header.dropFirst(7).trimmingSpaces
        guard secret.hasPrefix("tly_"), let token = try await store.token(secretHash: TokenSecret.hash(secret)),
              token.revokedAt == nil
        else { throw TallyError.unauthenticated }
        guard token.allows(scope) else {
            throw TallyError.forbidden("this token lacks the '\(scope.rawValue)' scope")
        }
        let now = Instant.now
        let due = lastRecorded.times.withLock { seen -> Bool in
            if let last = seen[token.id], now.microseconds - last < 60_000_000 { return false }
            seen[token.id] = now.microseconds
            return true
        }
        if due { try? await store.recordTokenUse(id: token.id, at: now) }
        return token
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
