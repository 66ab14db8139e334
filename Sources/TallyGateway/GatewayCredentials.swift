import Synchronization
import TallyCore
import TallyHTTP
import TallyServices

/// Who a gateway call is from and where it goes, remembered for `ttl` so a call costs no database round trip.
/// A token revoked or a connection changed through this process is forgotten at once (`forgetAll`); another replica
/// sharing the database notices within `ttl`.
/// What the gateway's credentials read: the caller's token and the organization's connections.
package typealias GatewayCredentialStore = AuthenticationStore & ConnectionStore

package final class GatewayCredentials<Store: GatewayCredentialStore>: Sendable {
    /// A connection with its API key opened from the vault (nil when it has none or the vault cannot open it).
    package struct Upstream: Sendable {
        package let connection: ProviderConnection
        package let apiKey: String?
    }

    private struct Entry<Value: Sendable>: Sendable {
        package let value: Value
        package let expires: ContinuousClock.Instant
    }

    package let auth: Authenticator<Store>
    package let store: Store
    package let connections: ConnectionService<Store>
    package let vault: Vault?
    package let ttl: Duration
    private let tokens = Mutex<[String: Entry<APIToken>]>([:])
    private let upstreams = Mutex<[String: Entry<[Upstream]>]>([:])
    /// Bounds memory when many tokens or organizations pass through; the cache simply starts over.
    private let capacity = 10_000

    package init(
        auth: Authenticator<Store>, store: Store, connections: ConnectionService<Store>, vault: Vault?,
        ttl: Duration = .seconds(5)
    ) {
        self.auth = auth
        self.store = store
        self.connections = connections
        self.vault = vault
        self.ttl = ttl
    }

    /// The active token behind `secret`; throws `unauthenticated` like the API does. Failures are not remembered.
    package func token(secret: String) async throws -> APIToken {
        let key = TokenSecret.hash(secret)
        let now = ContinuousClock.now
        if let hit = tokens.withLock({ $0[key] }), hit.expires > now, hit.value.isActive(at: .now) {
            await auth.noteUse(hit.value)
            return hit.value
        }
        let token = try await auth.token(secret: secret)
        tokens.withLock {
            if $0.count >= capacity { $0.removeAll() }
            $0[key] = Entry(value: token, expires: now + ttl)
        }
        return token
    }

    /// The organization's connections to `provider`, oldest first, with their keys opened.
    package func upstreams(organizationID: String, provider: ProviderKind) async throws -> [Upstream] {
        let key = organizationID + "/" + provider.rawValue
        let now = ContinuousClock.now
        if let hit = upstreams.withLock({ $0[key] }), hit.expires > now { return hit.value }
        let found = try await store.connections(organizationID: organizationID).filter { $0.provider == provider }.map {
            c in
            Upstream(connection: c, apiKey: vault.flatMap { try? connections.secrets(c, vault: $0).apiKey })
        }
        upstreams.withLock {
            if $0.count >= capacity { $0.removeAll() }
            $0[key] = Entry(value: found, expires: now + ttl)
        }
        return found
    }

    package func forgetAll() {
        tokens.withLock { $0.removeAll() }
        upstreams.withLock { $0.removeAll() }
    }
}
