import Crypto
import Hummingbird
import Synchronization
import TallyCore
import TallyServices

/// Who is calling: a bearer token (checked against the store on every request, so a revocation holds at once on
/// every replica) or a session cookie (also in the store; state-changing calls must carry its CSRF token).
/// What authentication reads: tokens, sessions and the memberships behind them.
public typealias AuthenticationStore = TokenStore & SessionStore & AccountStore

public struct Authenticator<Store: AuthenticationStore>: Sendable {
    package let store: Store
    package let policy: SessionPolicy
    /// Last-used and last-seen times are written at most once a minute per token or session, not on every request.
    private let lastRecorded = LastUse()

    package final class LastUse: Sendable {
        package let times = Mutex<[String: Int64]>([:])
    }

    public init(store: Store, policy: SessionPolicy = SessionPolicy()) {
        self.store = store
        self.policy = policy
    }

    public func require(_ scope: Scope, _ request: Request) async throws -> Principal {
        let principal = try await principal(request)
        guard principal.allows(scope) else {
            if let role = principal.role {
                throw TallyError.forbidden("your role (\(role.rawValue)) cannot do this")
            }
            throw TallyError.forbidden("this token lacks the '\(scope.rawValue)' scope")
        }
        return principal
    }

    public func require(_ permission: Permission, _ request: Request) async throws -> Principal {
        let principal = try await principal(request)
        guard principal.allows(permission) else {
            if let role = principal.role {
                throw TallyError.forbidden(
                    "your role (\(role.rawValue)) cannot do this: it needs \(permission.minimumRole.rawValue)")
            }
            throw TallyError.forbidden(
                "this needs a signed-in \(permission.minimumRole.rawValue) or a token with the 'admin' scope")
        }
        return principal
    }

    public func principal(_ request: Request) async throws -> Principal {
        if let header = request.headers[.authorization] {
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { throw TallyError.unauthenticated }
            return Principal(.token(try await token(secret: header.dropFirst(7).trimmingSpaces)))
        }
        guard let principal = try await session(request) else { throw TallyError.unauthenticated }
        if !request.method.isSafe {
            guard case .user(_, _, let session) = principal.kind,
                let sent = request.headers[.init("X-CSRF-Token")!], constantTimeEqual(sent, session.csrfToken)
            else { throw APIError.csrfFailed }
        }
        return principal
    }

    /// The token as it may act now: active, and capped by its creator's current role, read with it from the store
    /// (a creator who left the organization leaves a token that no longer works). The gateway remembers the result
    /// for a few seconds at most.
    package func token(secret: String) async throws -> APIToken {
        let now = Instant.now
        guard secret.hasPrefix("tly_"), let stored = try await store.token(secretHash: TokenSecret.hash(secret)),
            stored.isActive(at: now), let token = stored.cappedByCreator()
        else { throw TallyError.unauthenticated }
        await noteUse(token)
        return token
    }

    /// The signed-in member behind a browser request, or nil (no cookie, expired, or no longer a member).
    public func session(_ request: Request) async throws -> Principal? {
        guard let secret = Cookies.value(Cookies.session, in: request), !secret.isEmpty,
            let session = try await store.session(id: TokenSecret.hash(secret))
        else { return nil }
        let now = Instant.now
        if session.isExpired(at: now, policy: policy) {
            try? await store.deleteSession(id: session.id)
            return nil
        }
        guard
            let membership = try await store.memberships(userID: session.userID)
                .first(where: { $0.organization.id == session.organizationID })
        else { return nil }
        if due(session.id, now) { try? await store.touchSession(id: session.id, at: now) }
        return Principal(.user(membership.user, membership.role, session))
    }

    /// Records a token's use (at most once a minute); the gateway calls it for tokens it remembers.
    package func noteUse(_ token: APIToken) async {
        let now = Instant.now
        if due(token.id, now) { try? await store.recordTokenUse(id: token.id, at: now) }
    }

    private func due(_ id: String, _ now: Instant) -> Bool {
        lastRecorded.times.withLock { seen -> Bool in
            if let last = seen[id], now.microseconds - last < 60_000_000 { return false }
            if seen.count > 100_000 { seen.removeAll() }
            seen[id] = now.microseconds
            return true
        }
    }
}

/// Compares secrets without an early exit, so timing does not tell how much of a guess was right.
/// Compares two secrets in time that depends on neither: both are hashed first, so not even the length of the
/// expected one shows in the timing.
package func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(SHA256.hash(data: Array(a.utf8))), y = Array(SHA256.hash(data: Array(b.utf8)))
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}

extension HTTPRequest.Method {
    package var isSafe: Bool { self == .get || self == .head || self == .options }
}
