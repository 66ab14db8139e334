import Foundation
import JWTKit
import TallyCore

/// An OpenID Connect relying party for the authorization-code flow with PKCE: discovery, the authorize URL, the code
/// exchange and the ID token's verification. An actor because it caches the discovery document and the provider's
/// keys; every network call goes through `fetch`, and the time comes from `clock`.
package actor OIDCClient {
    package struct Configuration: Sendable {
        /// `oidc` or `google`: the provider named in the identities this client returns.
        package var provider: String
        /// Compared exactly (no trailing-slash forgiveness) with the discovery document's and each token's `iss`.
        package var issuer: String
        package var clientID: String
        package var clientSecret: String
        /// `openid` is added when missing: without it the provider returns no ID token.
        package var scopes: [String]
        package var redirectURI: String
        /// How far the provider's clock and ours may disagree when checking `exp` and `iat`, in seconds.
        package var allowedClockSkew: Int64
        /// The key set is fetched again for an unknown `kid` at most this often, so a stream of tokens naming keys
        /// that do not exist cannot make Tally hammer the provider.
        package var keyRefetchInterval: Int64
        /// A held key set is fetched again when it is older than this (the provider may have withdrawn a key).
        package var keyMaxAge: Int64
        /// Other spellings of the issuer that tokens may carry (Google's ID tokens may say `accounts.google.com`).
        package var issuerAliases: Set<String>

        package init(
            provider: String = "oidc", issuer: String, clientID: String, clientSecret: String,
            scopes: [String] = ["openid", "email", "profile"], redirectURI: String, allowedClockSkew: Int64 = 60,
            keyRefetchInterval: Int64 = 30, keyMaxAge: Int64 = 3_600, issuerAliases: Set<String> = []
        ) {
            self.provider = provider
            self.issuer = issuer
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.scopes = scopes.contains("openid") ? scopes : ["openid"] + scopes
            self.redirectURI = redirectURI
            self.allowedClockSkew = allowedClockSkew
            self.keyRefetchInterval = keyRefetchInterval
            self.keyMaxAge = keyMaxAge
            self.issuerAliases = issuerAliases
        }

        /// Google's preset: its documented issuer, plus the scheme-less spelling its ID tokens sometimes carry.
        package static func google(
            clientID: String, clientSecret: String, redirectURI: String, issuer: String = "https://accounts.google.com"
        ) -> Configuration {
            Configuration(
                provider: "google", issuer: issuer, clientID: clientID, clientSecret: clientSecret,
                redirectURI: redirectURI,
                issuerAliases: issuer == "https://accounts.google.com" ? ["accounts.google.com"] : [])
        }
    }

    /// The parts of the provider's discovery document Tally uses.
    package struct Discovery: Sendable, Equatable {
        package var issuer: String
        package var authorizationEndpoint: String
        package var tokenEndpoint: String
        package var jwksURI: String
    }

    package nonisolated let configuration: Configuration
    private let fetch: IdentityFetch
    private let clock: @Sendable () -> Int64

    private var discovered: Discovery?
    private var discovering: Task<Discovery, any Error>?
    private var keys: KeySet?
    private var fetchingKeys: Task<KeySet, any Error>?
    /// When an unknown `kid` last made us fetch the key set again.
    private var lastRefetch: Int64?

    package init(
        configuration: Configuration, fetch: @escaping IdentityFetch,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.configuration = configuration
        self.fetch = fetch
        self.clock = clock
    }

    // MARK: Discovery

    /// The provider's configuration, fetched once and kept; a failed fetch is not kept, so the next sign-in retries.
    package func discovery() async throws -> Discovery {
        if let discovered { return discovered }
        if let discovering { return try await discovering.value }
        let (configuration, fetch) = (configuration, fetch)
        let task = Task { try await Self.fetchDiscovery(configuration: configuration, fetch: fetch) }
        discovering = task
        defer { discovering = nil }
        let document = try await task.value
        discovered = document
        return document
    }

    private static func fetchDiscovery(configuration: Configuration, fetch: IdentityFetch) async throws -> Discovery {
        struct Document: Decodable {
            let issuer: String?
            let authorizationEndpoint: String?
            let tokenEndpoint: String?
            let jwksURI: String?
            enum CodingKeys: String, CodingKey {
                case issuer
                case authorizationEndpoint = "authorization_endpoint"
                case tokenEndpoint = "token_endpoint"
                case jwksURI = "jwks_uri"
            }
        }
        let url = IdentityCall.trimmingSlash(configuration.issuer) + "/.well-known/openid-configuration"
        let response = try await IdentityCall.send(
            IdentityHTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")]), fetch: fetch,
            what: "discovery")
        guard response.status == 200, let document = IdentityCall.decode(Document.self, from: response.body) else {
            throw SSOError.discoveryFailed
        }
        // OpenID Connect Discovery §4.3: an issuer that does not match is how a provider is impersonated.
        guard document.issuer == configuration.issuer else { throw SSOError.issuerMismatch }
        guard let authorize = document.authorizationEndpoint, let token = document.tokenEndpoint,
            let jwks = document.jwksURI, !authorize.isEmpty, !token.isEmpty, !jwks.isEmpty
        else { throw SSOError.discoveryFailed }
        return Discovery(
            issuer: configuration.issuer, authorizationEndpoint: authorize, tokenEndpoint: token, jwksURI: jwks)
    }

    // MARK: Authorize

    /// Where to send the browser: the authorization endpoint with the code flow's parameters, PKCE S256 and a nonce.
    package func authorizeURL(state: String, nonce: String, codeChallenge: String) async throws -> String {
        let endpoint = try await discovery().authorizationEndpoint
        return IdentityCall.url(
            endpoint,
            query: [
                ("response_type", "code"), ("client_id", configuration.clientID),
                ("redirect_uri", configuration.redirectURI), ("scope", configuration.scopes.joined(separator: " ")),
                ("state", state), ("nonce", nonce), ("code_challenge", codeChallenge),
                ("code_challenge_method", "S256"),
            ])
    }

    // MARK: Exchange

    /// Redeems the callback's code at the token endpoint (client_secret_basic, with the PKCE verifier) and returns
    /// the identity in the ID token, once its signature and claims check out. `nonce` is the one this flow sent.
    package func exchange(code: String, verifier: String, nonce: String) async throws -> ExternalIdentity {
        let endpoints = try await discovery()
        let response = try await IdentityCall.send(
            IdentityHTTPRequest(
                method: "POST", url: endpoints.tokenEndpoint,
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
                    ("Authorization", basicAuthorization()),
                ],
                form: [
                    ("grant_type", "authorization_code"), ("code", code),
                    ("redirect_uri", configuration.redirectURI), ("code_verifier", verifier),
                ]),
            fetch: fetch, what: "token")
        guard response.status == 200 else { throw SSOError.tokenRefused(IdentityCall.errorCode(in: response.body)) }
        struct TokenResponse: Decodable {
            let idToken: String?
            let error: String?
            enum CodingKeys: String, CodingKey {
                case idToken = "id_token"
                case error
            }
        }
        guard let tokens = IdentityCall.decode(TokenResponse.self, from: response.body) else {
            throw SSOError.tokenRefused(nil)
        }
        if tokens.error != nil { throw SSOError.tokenRefused(IdentityCall.errorCode(in: response.body)) }
        guard let idToken = tokens.idToken, !idToken.isEmpty else { throw SSOError.noIDToken }
        return try await verify(idToken: idToken, nonce: nonce)
    }

    /// RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined and base64-encoded, so a secret
    /// holding `:` cannot be split in the wrong place.
    private func basicAuthorization() -> String {
        let pair =
            TextEncoding.percentEncoded(configuration.clientID) + ":"
            + TextEncoding.percentEncoded(configuration.clientSecret)
        return "Basic " + Data(pair.utf8).base64EncodedString()
    }

    // MARK: ID token

    /// Checks an ID token (OpenID Connect Core §3.1.3.7): a signature by the provider's key named in its header,
    /// then issuer, audience, authorized party, expiry, issue time and nonce.
    package func verify(idToken: String, nonce expectedNonce: String) async throws -> ExternalIdentity {
        let header = try Self.header(of: idToken)
        guard let algorithm = KeySet.Algorithm(rawValue: header.alg) else {
            let named = Self.knownAlgorithms.contains(header.alg) ? header.alg : "an unrecognized algorithm"
            throw SSOError.unsupportedAlgorithm(named)
        }
        let key = try await key(id: header.kid, algorithm: algorithm)
        let claims = try await Self.verifySignature(idToken, key: key, kid: header.kid)
        return try check(claims, nonce: expectedNonce)
    }

    /// The JWS names Tally can echo in a message; anything else in `alg` is the token's text and is not repeated.
    static let knownAlgorithms: Set<String> = [
        "none", "HS256", "HS384", "HS512", "RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "ES512", "ES256K",
        "EdDSA",
    ]

    struct Header: Decodable {
        let alg: String
        let kid: String?
        let crit: [String]?
    }

    /// The token's header, read before any key is chosen. A `crit` header asks for extensions Tally does not know,
    /// which RFC 7515 §4.1.11 says must be refused.
    static func header(of token: String) throws -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(String(parts[0])),
            let header = IdentityCall.decode(Header.self, from: bytes), header.crit == nil
        else { throw SSOError.malformedToken }
        return header
    }

    private func key(id kid: String?, algorithm: KeySet.Algorithm) async throws -> KeySet.Key {
        let now = clock()
        var set: KeySet
        var fresh = false
        if let keys, now - keys.fetchedAt < configuration.keyMaxAge {
            set = keys
        } else {
            set = try await loadKeys()
            fresh = true
        }
        // An unknown kid is how a key rotation looks from here: fetch the set again, but only once per interval. The
        // time is recorded before the fetch, so tokens arriving meanwhile do not start fetches of their own.
        if case .missing = set.lookup(kid: kid, algorithm: algorithm), !fresh,
            lastRefetch.map({ now - $0 >= configuration.keyRefetchInterval }) ?? true
        {
            lastRefetch = now
            set = try await loadKeys()
        }
        switch set.lookup(kid: kid, algorithm: algorithm) {
        case .found(let key): return key
        case .wrongType: throw SSOError.keyMismatch
        case .missing: throw SSOError.unknownKey
        }
    }

    /// Fetches the key set; callers arriving while a fetch is under way share it.
    private func loadKeys() async throws -> KeySet {
        if let fetchingKeys { return try await fetchingKeys.value }
        let uri = try await discovery().jwksURI
        if let fetchingKeys { return try await fetchingKeys.value }
        let (fetch, clock) = (fetch, clock)
        let task = Task { try await KeySet.fetch(uri: uri, fetch: fetch, at: clock()) }
        fetchingKeys = task
        defer { fetchingKeys = nil }
        let set = try await task.value
        keys = set
        return set
    }

    /// The signature check itself is JWTKit's, with a collection holding only the one key chosen above, so its
    /// fallback to a default key can never pick another one.
    private static func verifySignature(_ token: String, key: KeySet.Key, kid: String?) async throws -> IDTokenClaims {
        let collection = JWTKeyCollection()
        let identifier = kid.map { JWKIdentifier(string: $0) }
        switch key {
        case .rsa(let publicKey): await collection.add(rsa: publicKey, digestAlgorithm: .sha256, kid: identifier)
        case .p256(let publicKey): await collection.add(ecdsa: publicKey, kid: identifier)
        }
        do {
            return try await collection.verify(token, as: IDTokenClaims.self)
        } catch let error as JWTError where error.errorType == .malformedToken {
            throw SSOError.malformedToken
        } catch {
            throw SSOError.badSignature
        }
    }

    private func check(_ claims: IDTokenClaims, nonce expectedNonce: String) throws -> ExternalIdentity {
        guard let subject = claims.sub, !subject.isEmpty, subject.utf8.count <= 255, let exp = claims.exp,
            let iat = claims.iat
        else { throw SSOError.malformedToken }
        guard let iss = claims.iss, iss == configuration.issuer || configuration.issuerAliases.contains(iss) else {
            throw SSOError.wrongIssuer
        }
        guard claims.aud.contains(configuration.clientID) else { throw SSOError.wrongAudience }
        // Core §3.1.3.7 (4, 5): with several audiences the token must have been issued to us; an azp that names
        // someone else is refused whatever the audience.
        if claims.aud.count > 1 || claims.azp != nil {
            guard claims.azp == configuration.clientID else { throw SSOError.wrongAuthorizedParty }
        }
        // Compared as doubles: the claims are JSON numbers and may be huge or fractional.
        let now = Double(clock())
        let skew = Double(configuration.allowedClockSkew)
        guard exp + skew > now else { throw SSOError.expired }
        guard iat - skew <= now else { throw SSOError.issuedInFuture }
        guard let nonce = claims.nonce, TOTP.constantTimeEqual(Array(nonce.utf8), Array(expectedNonce.utf8)) else {
            throw SSOError.nonceMismatch
        }
        return ExternalIdentity(
            provider: configuration.provider, issuer: configuration.issuer, subject: subject,
            email: claims.email.flatMap { $0.isEmpty ? nil : $0 }, emailVerified: claims.emailVerified,
            name: claims.name.flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// The provider's signing keys Tally can use: RSA for RS256, P-256 for ES256. Keys of other types, or marked for
/// encryption, are skipped rather than failing the whole set (providers publish several kinds).
struct KeySet: Sendable {
    enum Algorithm: String {
        case rs256 = "RS256"
        case es256 = "ES256"
    }

    enum Key: Sendable {
        case rsa(JWTKit.Insecure.RSA.PublicKey)
        case p256(ES256PublicKey)

        var algorithm: Algorithm {
            switch self {
            case .rsa: .rs256
            case .p256: .es256
            }
        }
    }

    enum Lookup {
        case found(Key)
        case wrongType
        case missing
    }

    var keys: [(kid: String?, key: Key)]
    var fetchedAt: Int64

    /// By `kid`; a token without one may use the only key of its type (OpenID Connect Core §10.1).
    func lookup(kid: String?, algorithm: Algorithm) -> Lookup {
        guard let kid else {
            let candidates = keys.filter { $0.key.algorithm == algorithm }
            return candidates.count == 1 ? .found(candidates[0].key) : .missing
        }
        let named = keys.filter { $0.kid == kid }
        if let match = named.first(where: { $0.key.algorithm == algorithm }) { return .found(match.key) }
        return named.isEmpty ? .missing : .wrongType
    }

    static func fetch(uri: String, fetch: IdentityFetch, at now: Int64) async throws -> KeySet {
        let response = try await IdentityCall.send(
            IdentityHTTPRequest(method: "GET", url: uri, headers: [("Accept", "application/json")]), fetch: fetch,
            what: "key set")
        guard response.status == 200, let set = parse(response.body, at: now) else { throw SSOError.keysUnavailable }
        return set
    }

    static func parse(_ body: [UInt8], at now: Int64) -> KeySet? {
        struct Document: Decodable { let keys: [RawKey] }
        struct RawKey: Decodable {
            let kty: String?
            let kid: String?
            let use: String?
            let alg: String?
            let crv: String?
            let n: String?
            let e: String?
            let x: String?
            let y: String?
        }
        guard let document = IdentityCall.decode(Document.self, from: body) else { return nil }
        var keys: [(kid: String?, key: Key)] = []
        for raw in document.keys where raw.use == nil || raw.use == "sig" {
            switch (raw.kty, raw.alg) {
            case ("RSA", nil), ("RSA", "RS256"):
                // JWTKit refuses moduli under 2048 bits; such a key is skipped like any other unusable one.
                guard let n = raw.n, let e = raw.e,
                    let key = try? JWTKit.Insecure.RSA.PublicKey(modulus: n, exponent: e)
                else { continue }
                keys.append((raw.kid, .rsa(key)))
            case ("EC", nil), ("EC", "ES256"):
                guard raw.crv == "P-256", let x = raw.x, let y = raw.y,
                    let key = try? ES256PublicKey(parameters: (x: x, y: y))
                else { continue }
                keys.append((raw.kid, .p256(key)))
            default:
                continue
            }
        }
        return KeySet(keys: keys, fetchedAt: now)
    }
}

/// The ID token's claims, read leniently: a claim of the wrong type reads as missing, and the checks above decide.
struct IDTokenClaims: JWTPayload {
    var iss: String?
    var sub: String?
    var aud: [String]
    var azp: String?
    var exp: Double?
    var iat: Double?
    var nonce: String?
    var email: String?
    var emailVerified: Bool
    var name: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, azp, exp, iat, nonce, email, name
        case emailVerified = "email_verified"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iss = try? c.decode(String.self, forKey: .iss)
        sub = try? c.decode(String.self, forKey: .sub)
        // `aud` is a string or an array of strings (RFC 7519 §4.1.3).
        if let one = try? c.decode(String.self, forKey: .aud) {
            aud = [one]
        } else {
            aud = (try? c.decode([String].self, forKey: .aud)) ?? []
        }
        azp = try? c.decode(String.self, forKey: .azp)
        exp = try? c.decode(Double.self, forKey: .exp)
        iat = try? c.decode(Double.self, forKey: .iat)
        nonce = try? c.decode(String.self, forKey: .nonce)
        email = try? c.decode(String.self, forKey: .email)
        // Some providers send the string "true"; anything but true or "true" means not verified.
        if let flag = try? c.decode(Bool.self, forKey: .emailVerified) {
            emailVerified = flag
        } else {
            emailVerified = (try? c.decode(String.self, forKey: .emailVerified)) == "true"
        }
        name = try? c.decode(String.self, forKey: .name)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(iss, forKey: .iss)
        try c.encodeIfPresent(sub, forKey: .sub)
        try c.encode(aud, forKey: .aud)
        try c.encodeIfPresent(azp, forKey: .azp)
        try c.encodeIfPresent(exp, forKey: .exp)
        try c.encodeIfPresent(iat, forKey: .iat)
        try c.encodeIfPresent(nonce, forKey: .nonce)
        try c.encodeIfPresent(email, forKey: .email)
        try c.encode(emailVerified, forKey: .emailVerified)
        try c.encodeIfPresent(name, forKey: .name)
    }

    /// Nothing here: the claims are checked by `OIDCClient` against its own clock, with an error for each.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
