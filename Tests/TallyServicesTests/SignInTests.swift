import Crypto
import Foundation
import JWTKit
import Synchronization
import TallyServices
import Testing
import _CryptoExtras

// MARK: - Two-factor and flow secrets

/// RFC 6238 appendix B (SHA-1), the 8-digit values mod 10^6; the secret is the ASCII of "12345678901234567890".
@Suite struct TOTPTests {
    let secret = Array("12345678901234567890".utf8)

    @Test(arguments: [
        (Int64(59), "287082"), (1_111_111_109, "081804"), (1_111_111_111, "050471"), (1_234_567_890, "005924"),
        (2_000_000_000, "279037"), (20_000_000_000, "353130"),
    ])
    func rfc6238Vectors(time: Int64, expected: String) {
        #expect(TOTP.code(secret: secret, step: TOTP.step(at: time)) == expected)
        #expect(TOTP.matchingStep(code: expected, secret: secret, at: time) == TOTP.step(at: time))
    }

    @Test func stepsAreThirtySecondsAndFloorBeforeEpoch() {
        #expect(TOTP.step(at: 0) == 0 && TOTP.step(at: 29) == 0 && TOTP.step(at: 30) == 1)
        #expect(TOTP.step(at: -1) == -1 && TOTP.step(at: -30) == -1 && TOTP.step(at: -31) == -2)
        #expect(TOTP.step(at: .min) < 0 && TOTP.step(at: .max) > 0)
    }

    @Test func oneStepEitherSideMatchesAndNoFurther() {
        let now: Int64 = 1_111_111_111
        let step = TOTP.step(at: now)
        for offset in Int64(-1)...1 {
            let code = TOTP.code(secret: secret, step: step + offset)
            #expect(TOTP.matchingStep(code: code, secret: secret, at: now) == step + offset)
        }
        #expect(TOTP.matchingStep(code: TOTP.code(secret: secret, step: step + 2), secret: secret, at: now) == nil)
        #expect(TOTP.matchingStep(code: TOTP.code(secret: secret, step: step - 2), secret: secret, at: now) == nil)
        let far = TOTP.code(secret: secret, step: step + 2)
        #expect(TOTP.matchingStep(code: far, secret: secret, at: now, window: 2) == step + 2)
        #expect(
            TOTP.matchingStep(code: TOTP.code(secret: secret, step: step), secret: secret, at: now, window: 0) == step)
    }

    @Test func onlySixAsciiDigitsSpacesAside() {
        let now: Int64 = 59
        #expect(TOTP.matchingStep(code: "287 082", secret: secret, at: now) == 1)
        #expect(TOTP.matchingStep(code: " 28 70 82 ", secret: secret, at: now) == 1)
        for bad in ["28708", "2870822", "287-082", "２８７０８２", "28708a", "", "+87082", "٢٨٧٠٨٢"] {
            #expect(TOTP.matchingStep(code: bad, secret: secret, at: now) == nil, "\(bad)")
        }
        #expect(TOTP.matchingStep(code: "287082", secret: [], at: now) == nil)
    }

    @Test func secretsAreFreshTwentyBytes() {
        let a = TOTP.newSecret()
        #expect(a.count == 20 && a != TOTP.newSecret())
    }

    @Test func otpauthURIEncodesLabelAndCarriesParameters() {
        let uri = TOTP.otpauthURI(secret: secret, account: "ana maría@example.com", issuer: "Tally: Acme&Co")
        #expect(
            uri == "otpauth://totp/Tally%3A%20Acme%26Co:ana%20mar%C3%ADa%40example.com"
                + "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tally%3A%20Acme%26Co"
                + "&algorithm=SHA1&digits=6&period=30")
    }
}

/// RFC 4648 §10.
@Suite struct Base32Tests {
    @Test(arguments: [
        ("", "", ""), ("f", "MY", "MY======"), ("fo", "MZXQ", "MZXQ===="), ("foo", "MZXW6", "MZXW6==="),
        ("foob", "MZXW6YQ", "MZXW6YQ="), ("fooba", "MZXW6YTB", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI", "MZXW6YTBOI======"),
    ])
    func rfc4648Vectors(plain: String, bare: String, padded: String) {
        let bytes = Array(plain.utf8)
        #expect(Base32.encode(bytes) == bare)
        #expect(Base32.encode(bytes, padded: true) == padded)
        #expect(Base32.decode(bare) == bytes)
        #expect(Base32.decode(padded) == bytes)
        #expect(Base32.decode(padded.lowercased()) == bytes)
    }

    @Test func decodingForgivesSpacingAndRefusesTheRest() {
        #expect(Base32.decode("mzxw 6ytb oi") == Array("foobar".utf8))
        #expect(Base32.decode("MZXW-6YTB-OI==") == Array("foobar".utf8))
        #expect(Base32.decode("MZXW1") == nil)  // 1 is not base32
        #expect(Base32.decode("MZXW8") == nil)
        #expect(Base32.decode("M") == nil)  // no encoding ends with 1, 3 or 6 spare characters
        #expect(Base32.decode("MZX") == nil)
        #expect(Base32.decode("MZXW6Y") == nil)
        let random = TOTP.newSecret()
        #expect(Base32.decode(Base32.encode(random)) == random)
    }
}

@Suite struct RecoveryCodeTests {
    @Test func tenDistinctCodesShapedXXXXdashXXXXdashXX() throws {
        let codes = RecoveryCodes.generate()
        #expect(codes.count == 10 && Set(codes).count == 10)
        let allowed = Set("0123456789abcdefghjkmnpqrstvwxyz")
        for code in codes {
            let parts = code.split(separator: "-")
            #expect(parts.map(\.count) == [4, 4, 2], "\(code)")
            #expect(parts.joined().allSatisfy(allowed.contains))
            #expect(!code.contains(where: { "ilou".contains($0) }))
            #expect(RecoveryCodes.normalize(code) == parts.joined())
        }
        // 32 symbols × 10 characters: 50 bits.
        #expect(allowed.count == 32)
    }

    @Test func normalizeForgivesCaseDashesSpacesAndLookAlikes() {
        #expect(RecoveryCodes.normalize("AB12-CD34-EF") == "ab12cd34ef")
        #expect(RecoveryCodes.normalize(" ab12 cd34 ef ") == "ab12cd34ef")
        #expect(RecoveryCodes.normalize("abO1-cdI4-eL") == "ab01cd14e1")
        #expect(RecoveryCodes.normalize("ab12-cd34-e") == nil)
        #expect(RecoveryCodes.normalize("ab12-cd34-efg") == nil)
        #expect(RecoveryCodes.normalize("ab12-cd34-eu") == nil)  // u is not in the alphabet
        #expect(RecoveryCodes.normalize("ab12_cd34_ef") == nil)
    }

    @Test func storedAsTheSHA256OfTheNormalizedCode() {
        let hash = RecoveryCodes.hash("AB12-CD34-EF")
        #expect(hash == TokenSecret.hash("ab12cd34ef"))
        #expect(hash == RecoveryCodes.hash("ab12cd34ef"))
        #expect(hash.count == 64)
        // Text that cannot be a code still hashes, to something no stored code has.
        #expect(RecoveryCodes.hash("nope") == TokenSecret.hash("nope"))
    }
}

@Suite struct PKCETests {
    /// RFC 7636 appendix B.
    @Test func rfc7636Example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        #expect(PKCE.isValidVerifier(verifier))
        #expect(PKCE.challenge(verifier: verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test func verifiersStatesAndNoncesAreFreshAndURLSafe() {
        let verifier = PKCE.verifier()
        #expect(verifier.count == 43 && PKCE.isValidVerifier(verifier) && verifier != PKCE.verifier())
        let token = PKCE.randomToken()
        #expect(token.count == 43 && PKCE.isValidVerifier(token) && token != PKCE.randomToken())
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42)))
        #expect(PKCE.isValidVerifier(String(repeating: "a", count: 128)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 129)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42) + "+"))
    }

    @Test func base64URLRoundTrips() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("+/8=") == nil)
        #expect(Base64URL.decode("a") == nil)
    }
}

// MARK: - OIDC against an in-memory provider

/// Keys are slow to make; each is made once for the whole run.
enum TestKeys {
    static let rsa1 = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let rsa2 = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let rogue = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let p256 = P256.Signing.PrivateKey()
}

/// A published key: its kid and JWK.
struct PublishedKey: Sendable {
    var kid: String
    var jwk: [String: String]

    static func rsa(_ kid: String, _ key: _RSA.Signing.PrivateKey) -> PublishedKey {
        let primitives = try! key.publicKey.getKeyPrimitives()
        return PublishedKey(
            kid: kid,
            jwk: [
                "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": Base64URL.encode(Array(primitives.modulus)),
                "e": Base64URL.encode(Array(primitives.publicExponent)),
            ])
    }

    static func p256(_ kid: String, _ key: P256.Signing.PrivateKey) -> PublishedKey {
        let point = Array(key.publicKey.x963Representation.dropFirst())
        return PublishedKey(
            kid: kid,
            jwk: [
                "kty": "EC", "kid": kid, "crv": "P-256", "x": Base64URL.encode(Array(point[0..<32])),
                "y": Base64URL.encode(Array(point[32..<64])),
            ])
    }
}

/// `email_verified` and `aud` come in more than one JSON shape.
enum JSONScalar: Encodable, Sendable {
    case string(String)
    case bool(Bool)
    case strings([String])

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .strings(let a): try c.encode(a)
        }
    }
}

/// What the fake provider signs; every claim can be left out or bent.
struct TestClaims: JWTPayload {
    var iss: String? = "https://id.example.com"
    var sub: String? = "user-123"
    var aud: JSONScalar? = .string("tally-client")
    var azp: String?
    var exp: Double?
    var iat: Double?
    var nonce: String? = "the-nonce"
    var email: String? = "ana@example.com"
    var emailVerified: JSONScalar? = .bool(true)
    var name: String? = "Ana"

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, azp, exp, iat, nonce, email, name
        case emailVerified = "email_verified"
    }

    init(now: Int64) {
        exp = Double(now + 300)
        iat = Double(now)
    }

    init(from decoder: any Decoder) throws { fatalError("only signed, never read") }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

final class TestClock: Sendable {
    let seconds: Mutex<Int64>
    init(_ start: Int64) { seconds = Mutex(start) }
    var now: Int64 { seconds.withLock { $0 } }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
}

/// An OpenID provider in memory: discovery, JWKS and token endpoints, counting what it is asked.
actor FakeOIDCProvider {
    let issuer: String
    var published: [PublishedKey]
    var discoveryIssuer: String
    var nextTokenResponse: IdentityHTTPResponse = IdentityHTTPResponse(status: 500, body: [])
    private(set) var discoveryFetches = 0
    private(set) var keyFetches = 0
    private(set) var tokenRequests: [IdentityHTTPRequest] = []

    init(issuer: String = "https://id.example.com", published: [PublishedKey]) {
        self.issuer = issuer
        self.published = published
        self.discoveryIssuer = issuer
    }

    func publish(_ keys: [PublishedKey]) { published = keys }
    func setDiscoveryIssuer(_ issuer: String) { discoveryIssuer = issuer }
    func respond(idToken: String) {
        nextTokenResponse = .json(["access_token": "at-secret", "token_type": "Bearer", "id_token": idToken])
    }
    func respond(_ response: IdentityHTTPResponse) { nextTokenResponse = response }

    func handle(_ request: IdentityHTTPRequest) throws -> IdentityHTTPResponse {
        switch (request.method, request.url) {
        case ("GET", issuer + "/.well-known/openid-configuration"):
            discoveryFetches += 1
            return .json([
                "issuer": discoveryIssuer, "authorization_endpoint": issuer + "/authorize?tenant=t1",
                "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks",
            ])
        case ("GET", issuer + "/jwks"):
            keyFetches += 1
            let body = try JSONSerialization.data(withJSONObject: ["keys": published.map(\.jwk)])
            return IdentityHTTPResponse(status: 200, body: Array(body))
        case ("POST", issuer + "/token"):
            tokenRequests.append(request)
            return nextTokenResponse
        default:
            return IdentityHTTPResponse(status: 404, body: [])
        }
    }

    nonisolated var fetch: IdentityFetch { { [self] request in try await self.handle(request) } }
}

extension IdentityHTTPResponse {
    static func json(_ object: Any, status: Int = 200) -> IdentityHTTPResponse {
        IdentityHTTPResponse(status: status, body: Array(try! JSONSerialization.data(withJSONObject: object)))
    }
}

/// Signs test tokens with the test keys under chosen kids.
struct Signer {
    static func sign(_ claims: TestClaims, rsa key: _RSA.Signing.PrivateKey, kid: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(
            rsa: try JWTKit.Insecure.RSA.PrivateKey(backing: key), digestAlgorithm: .sha256,
            kid: JWKIdentifier(string: kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    static func sign(_ claims: TestClaims, p256 key: P256.Signing.PrivateKey, kid: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(backing: key), kid: JWKIdentifier(string: kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    /// A token with any header and no real signature, for `none` and HMAC.
    static func unsigned(header: [String: String], claims: TestClaims, signature: String = "") throws -> String {
        let h = Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: header)))
        let p = Base64URL.encode(Array(try JSONEncoder().encode(claims)))
        return h + "." + p + "." + signature
    }
}

@Suite struct OIDCClientTests {
    let start: Int64 = 1_800_000_000
    let clock: TestClock
    let provider: FakeOIDCProvider
    let client: OIDCClient

    init() {
        clock = TestClock(start)
        provider = FakeOIDCProvider(published: [.rsa("rsa-1", TestKeys.rsa1), .p256("ec-1", TestKeys.p256)])
        let clock = clock
        client = OIDCClient(
            configuration: .init(
                issuer: "https://id.example.com", clientID: "tally-client", clientSecret: "s3cret:with&odd=chars",
                scopes: ["email", "profile"], redirectURI: "https://tally.example.com/login/sso/oidc/callback"),
            fetch: provider.fetch, clock: { clock.now })
    }

    func claims() -> TestClaims { TestClaims(now: clock.now) }

    /// Runs the exchange with a token the provider will return.
    func exchange(_ token: String, nonce: String = "the-nonce") async throws -> ExternalIdentity {
        await provider.respond(idToken: token)
        return try await client.exchange(code: "the-code", verifier: "the-verifier", nonce: nonce)
    }

    func expectRefusal(_ expected: SSOError, _ token: String, nonce: String = "the-nonce") async {
        await #expect(throws: expected) { try await exchange(token, nonce: nonce) }
    }

    @Test func discoveryIsFetchedOnceAndTheAuthorizeURLCarriesTheFlow() async throws {
        let url = try await client.authorizeURL(state: "st", nonce: "nn", codeChallenge: "ch")
        #expect(
            url == "https://id.example.com/authorize?tenant=t1&response_type=code&client_id=tally-client"
                + "&redirect_uri=https%3A%2F%2Ftally.example.com%2Flogin%2Fsso%2Foidc%2Fcallback"
                + "&scope=openid%20email%20profile&state=st&nonce=nn&code_challenge=ch&code_challenge_method=S256")
        _ = try await client.discovery()
        _ = try await client.authorizeURL(state: "a", nonce: "b", codeChallenge: "c")
        #expect(await provider.discoveryFetches == 1)
    }

    @Test func concurrentFirstCallsShareOneDiscovery() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await client.discovery() } }
            try await group.waitForAll()
        }
        #expect(await provider.discoveryFetches == 1)
    }

    @Test func discoveryNamingAnotherIssuerIsRefusedAndNotCached() async throws {
        await provider.setDiscoveryIssuer("https://id.example.com/")
        await #expect(throws: SSOError.issuerMismatch) { try await client.discovery() }
        await provider.setDiscoveryIssuer("https://evil.example.com")
        await #expect(throws: SSOError.issuerMismatch) { try await client.discovery() }
        await provider.setDiscoveryIssuer("https://id.example.com")
        #expect(try await client.discovery().tokenEndpoint == "https://id.example.com/token")
        #expect(await provider.discoveryFetches == 3)
    }

    @Test func happyPathRS256() async throws {
        let token = try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1")
        let identity = try await exchange(token)
        #expect(
            identity
                == ExternalIdentity(
                    provider: "oidc", issuer: "https://id.example.com", subject: "user-123", email: "ana@example.com",
                    emailVerified: true, name: "Ana"))

        let request = try #require(await provider.tokenRequests.first)
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        let basic = try #require(request.header("Authorization"))
        let decoded = String(decoding: try #require(Data(base64Encoded: String(basic.dropFirst(6)))), as: UTF8.self)
        #expect(basic.hasPrefix("Basic ") && decoded == "tally-client:s3cret%3Awith%26odd%3Dchars")
        #expect(request.form?.map(\.0) == ["grant_type", "code", "redirect_uri", "code_verifier"])
        #expect(request.form?.map(\.1).first == "authorization_code")
        #expect(!(request.form ?? []).contains { $0.1.contains("s3cret") })
        #expect(
            String(decoding: request.formBody ?? [], as: UTF8.self)
                == "grant_type=authorization_code&code=the-code"
                + "&redirect_uri=https%3A%2F%2Ftally.example.com%2Flogin%2Fsso%2Foidc%2Fcallback"
                + "&code_verifier=the-verifier")
    }

    @Test func happyPathES256AndKeysAreKept() async throws {
        let token = try await Signer.sign(claims(), p256: TestKeys.p256, kid: "ec-1")
        #expect(try await exchange(token).subject == "user-123")
        var second = claims()
        second.sub = "user-456"
        let other = try await Signer.sign(second, rsa: TestKeys.rsa1, kid: "rsa-1")
        #expect(try await exchange(other).subject == "user-456")
        #expect(await provider.keyFetches == 1)
    }

    @Test func claimRefusals() async throws {
        var c = claims()
        c.iss = "https://evil.example.com"
        await expectRefusal(.wrongIssuer, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))

        c = claims()
        c.iss = "https://id.example.com/"
        await expectRefusal(.wrongIssuer, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))

        c = claims()
        c.aud = .string("someone-else")
        await expectRefusal(.wrongAudience, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))

        c = claims()
        c.aud = .strings(["someone-else", "tally-client"])
        await expectRefusal(.wrongAuthorizedParty, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        c.azp = "someone-else"
        await expectRefusal(.wrongAuthorizedParty, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        c.azp = "tally-client"
        #expect(try await exchange(try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1")).subject == "user-123")

        c = claims()
        c.azp = "someone-else"
        await expectRefusal(.wrongAuthorizedParty, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))

        c = claims()
        c.exp = Double(clock.now - 61)
        await expectRefusal(.expired, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        c.exp = Double(clock.now - 30)  // within the skew
        #expect(try await exchange(try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1")).subject == "user-123")

        c = claims()
        c.iat = Double(clock.now + 61)
        await expectRefusal(.issuedInFuture, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        c.iat = Double(clock.now + 30)
        #expect(try await exchange(try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1")).subject == "user-123")

        c = claims()
        await expectRefusal(.nonceMismatch, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"), nonce: "other")
        c.nonce = nil
        await expectRefusal(.nonceMismatch, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))

        c = claims()
        c.sub = nil
        await expectRefusal(.malformedToken, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        c = claims()
        c.exp = nil
        await expectRefusal(.malformedToken, try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        c = claims()
        c.exp = 1e300  // far future, not a trap
        #expect(try await exchange(try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1")).subject == "user-123")
    }

    @Test func tamperedTokensFailTheSignature() async throws {
        let token = try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1")
        let parts = token.split(separator: ".").map(String.init)
        var other = claims()
        other.sub = "admin"
        let forgedPayload = Base64URL.encode(Array(try JSONEncoder().encode(other)))
        await expectRefusal(.badSignature, parts[0] + "." + forgedPayload + "." + parts[2])

        var signature = Array(parts[2])
        signature[10] = signature[10] == "A" ? "B" : "A"
        await expectRefusal(.badSignature, parts[0] + "." + parts[1] + "." + String(signature))

        // Signed by a key that is not the provider's, under the provider's kid.
        await expectRefusal(.badSignature, try await Signer.sign(claims(), rsa: TestKeys.rogue, kid: "rsa-1"))
        let ec = try await Signer.sign(claims(), p256: P256.Signing.PrivateKey(), kid: "ec-1")
        await expectRefusal(.badSignature, ec)
    }

    @Test func noneAndHMACAreRefusedBeforeAnyKeyIsFetched() async throws {
        await expectRefusal(
            .unsupportedAlgorithm("none"),
            try Signer.unsigned(header: ["alg": "none", "kid": "rsa-1"], claims: claims()))
        await expectRefusal(
            .unsupportedAlgorithm("HS256"),
            try Signer.unsigned(header: ["alg": "HS256", "kid": "rsa-1"], claims: claims(), signature: "c2lnbmF0dXJl"))
        await expectRefusal(
            .unsupportedAlgorithm("an unrecognized algorithm"),
            try Signer.unsigned(header: ["alg": "<script>", "kid": "rsa-1"], claims: claims()))
        #expect(await provider.keyFetches == 0)
        await expectRefusal(.malformedToken, "not-a-token")
        await expectRefusal(.malformedToken, "a.b")
        await expectRefusal(
            .malformedToken,
            try Signer.unsigned(header: ["alg": "RS256", "crit": "exp"], claims: claims(), signature: "x"))
    }

    @Test func aKeyOfAnotherTypeThanTheAlgorithmIsRefused() async throws {
        // ES256 under the kid of the RSA key.
        await expectRefusal(.keyMismatch, try await Signer.sign(claims(), p256: TestKeys.p256, kid: "rsa-1"))
    }

    @Test func unknownKidAfterRotationCostsExactlyOneMoreFetch() async throws {
        #expect(
            try await exchange(try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1")).subject == "user-123")
        #expect(await provider.keyFetches == 1)
        await provider.publish([.rsa("rsa-2", TestKeys.rsa2)])
        #expect(
            try await exchange(try await Signer.sign(claims(), rsa: TestKeys.rsa2, kid: "rsa-2")).subject == "user-123")
        #expect(await provider.keyFetches == 2)
        #expect(
            try await exchange(try await Signer.sign(claims(), rsa: TestKeys.rsa2, kid: "rsa-2")).subject == "user-123")
        #expect(await provider.keyFetches == 2)
        // The withdrawn key is gone with the new set.
        await expectRefusal(.unknownKey, try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1"))
    }

    @Test func aFloodOfUnknownKidsFetchesAtMostOncePerThirtySeconds() async throws {
        _ = try await client.discovery()
        let tokens = try await (0..<20).asyncMap { i in
            try await Signer.sign(claims(), rsa: TestKeys.rogue, kid: "bogus-\(i)")
        }
        // Sequentially: the first fetches the set, the second fetches it again, the rest are refused outright.
        for token in tokens {
            await #expect(throws: SSOError.unknownKey) { try await client.verify(idToken: token, nonce: "the-nonce") }
        }
        #expect(await provider.keyFetches == 2)
        clock.advance(29)
        for token in tokens {
            await #expect(throws: SSOError.unknownKey) { try await client.verify(idToken: token, nonce: "the-nonce") }
        }
        #expect(await provider.keyFetches == 2)
        clock.advance(1)
        // Concurrently: still one fetch for the whole burst.
        await withTaskGroup(of: Void.self) { group in
            for token in tokens {
                group.addTask { _ = try? await client.verify(idToken: token, nonce: "the-nonce") }
            }
        }
        #expect(await provider.keyFetches == 3)
        // The known key still works throughout.
        let good = try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1")
        #expect(try await client.verify(idToken: good, nonce: "the-nonce").subject == "user-123")
        #expect(await provider.keyFetches == 3)
    }

    @Test func aStaleKeySetIsFetchedAgain() async throws {
        let token = try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1")
        _ = try await client.verify(idToken: token, nonce: "the-nonce")
        clock.advance(3_600)
        let later = try await Signer.sign(claims(), rsa: TestKeys.rsa1, kid: "rsa-1")
        _ = try await client.verify(idToken: later, nonce: "the-nonce")
        #expect(await provider.keyFetches == 2)
    }

    @Test func emailVerifiedAsBoolOrTheStringTrue() async throws {
        let cases: [(JSONScalar?, Bool)] = [
            (.bool(true), true), (.string("true"), true), (.bool(false), false), (.string("false"), false),
            (.string("yes"), false), (.string("TRUE"), false), (nil, false),
        ]
        for (flag, expected) in cases {
            var c = claims()
            c.emailVerified = flag
            let identity = try await exchange(try await Signer.sign(c, p256: TestKeys.p256, kid: "ec-1"))
            #expect(identity.emailVerified == expected, "\(String(describing: flag))")
        }
        var c = claims()
        c.email = nil
        c.name = ""
        let identity = try await exchange(try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "rsa-1"))
        #expect(identity.email == nil && identity.name == nil && identity.emailVerified)
    }

    @Test func tokenEndpointRefusals() async throws {
        await provider.respond(
            .json(["error": "invalid_grant", "error_description": "code abc123 for secret xyz"], status: 400))
        await #expect(throws: SSOError.tokenRefused("invalid_grant")) {
            try await client.exchange(code: "c", verifier: "v", nonce: "n")
        }
        #expect(!SSOError.tokenRefused("invalid_grant").userMessage.contains("abc123"))

        await provider.respond(.json(["error": "bad code <b>"], status: 400))
        await #expect(throws: SSOError.tokenRefused(nil)) {
            try await client.exchange(code: "c", verifier: "v", nonce: "n")
        }

        await provider.respond(.json(["access_token": "x", "token_type": "Bearer"]))
        await #expect(throws: SSOError.noIDToken) { try await client.exchange(code: "c", verifier: "v", nonce: "n") }

        await provider.respond(IdentityHTTPResponse(status: 200, body: [UInt8](repeating: 0x20, count: (1 << 20) + 1)))
        await #expect(throws: SSOError.responseTooLarge("token")) {
            try await client.exchange(code: "c", verifier: "v", nonce: "n")
        }
    }

    @Test func anUnreachableProviderSaysSo() async throws {
        struct Down: Error {}
        let client = OIDCClient(
            configuration: .init(issuer: "https://id.example.com", clientID: "c", clientSecret: "s", redirectURI: "r"),
            fetch: { _ in throw Down() })
        await #expect(throws: SSOError.unreachable("discovery")) { try await client.discovery() }
    }

    @Test func googlePresetAcceptsItsSchemelessIssuer() async throws {
        let provider = FakeOIDCProvider(
            issuer: "https://accounts.google.com", published: [.rsa("g-1", TestKeys.rsa1)])
        let clock = clock
        let google = OIDCClient(
            configuration: .google(clientID: "tally-client", clientSecret: "s", redirectURI: "r"),
            fetch: provider.fetch, clock: { clock.now })
        var c = claims()
        c.iss = "accounts.google.com"
        let identity = try await google.verify(
            idToken: try await Signer.sign(c, rsa: TestKeys.rsa1, kid: "g-1"), nonce: "the-nonce")
        #expect(identity.provider == "google" && identity.issuer == "https://accounts.google.com")
        #expect(google.configuration.scopes == ["openid", "email", "profile"])
    }

    @Test func messagesNameTheCheckAndNeverTheToken() {
        #expect(SSOError.nonceMismatch.userMessage.contains("nonce"))
        #expect(SSOError.wrongAudience.userMessage.contains("audience"))
        #expect(SSOError.expired.userMessage.contains("expired"))
        #expect(SSOError.badSignature.userMessage.contains("signature"))
        #expect(SSOError.unknownKey.userMessage == "The identity provider's token was signed by an unknown key.")
        #expect(SSOError.wrongIssuer.userMessage.contains("issuer"))
        #expect(SSOError.stateMismatch.userMessage.contains("state") && !SSOError.stateMismatch.isRefusal)
        #expect(SSOError.emailNotVerified.isRefusal && SSOError.domainNotAllowed.isRefusal)
        #expect(SSOError.signUpClosed.isRefusal && !SSOError.badSignature.isRefusal)
        #expect(SSOError.providerRefused("access_denied").userMessage.contains("access_denied"))
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

// MARK: - GitHub against an in-memory GitHub

actor FakeGitHub {
    var tokenAnswer: IdentityHTTPResponse = .json(["access_token": "gho_token", "token_type": "bearer"])
    struct Email: Sendable {
        var email: String
        var primary: Bool
        var verified: Bool
    }
    var emails: [Email] = [
        Email(email: "old@example.com", primary: false, verified: true),
        Email(email: "octo@example.com", primary: true, verified: true),
    ]
    private(set) var requests: [IdentityHTTPRequest] = []

    func setTokenAnswer(_ answer: IdentityHTTPResponse) { tokenAnswer = answer }
    func setEmails(_ list: [Email]) { emails = list }

    func handle(_ request: IdentityHTTPRequest) -> IdentityHTTPResponse {
        requests.append(request)
        switch (request.method, request.url) {
        case ("POST", "https://gh.example.com/login/oauth/access_token"):
            return tokenAnswer
        case ("GET", "https://api.gh.example.com/user"):
            guard request.header("Authorization") == "Bearer gho_token" else { return .json([:], status: 401) }
            return .json(["id": 583_231, "login": "octocat", "name": NSNull(), "email": NSNull()])
        case ("GET", "https://api.gh.example.com/user/emails"):
            guard request.header("Authorization") == "Bearer gho_token" else { return .json([:], status: 401) }
            return .json(
                emails.map {
                    ["email": $0.email, "primary": $0.primary, "verified": $0.verified, "visibility": NSNull()]
                })
        default:
            return .json([:], status: 404)
        }
    }

    nonisolated var fetch: IdentityFetch { { [self] request in await self.handle(request) } }
}

@Suite struct GitHubClientTests {
    let fake = FakeGitHub()
    var client: GitHubClient {
        GitHubClient(
            baseURL: "https://gh.example.com/", apiURL: "https://api.gh.example.com", clientID: "Iv1.abc",
            clientSecret: "gh-secret", redirectURI: "https://tally.example.com/login/sso/github/callback",
            fetch: fake.fetch)
    }

    @Test func authorizeURL() {
        #expect(
            client.authorizeURL(state: "st", codeChallenge: "ch")
                == "https://gh.example.com/login/oauth/authorize?response_type=code&client_id=Iv1.abc"
                + "&redirect_uri=https%3A%2F%2Ftally.example.com%2Flogin%2Fsso%2Fgithub%2Fcallback"
                + "&scope=read%3Auser%20user%3Aemail&state=st&code_challenge=ch&code_challenge_method=S256")
        #expect(
            GitHubClient(clientID: "a", clientSecret: "b", redirectURI: "c", fetch: fake.fetch).issuer
                == "https://github.com")
    }

    @Test func happyPath() async throws {
        let identity = try await client.exchange(code: "the-code", verifier: "the-verifier")
        #expect(
            identity
                == ExternalIdentity(
                    provider: "github", issuer: "https://gh.example.com", subject: "583231", email: "octo@example.com",
                    emailVerified: true, name: "octocat"))
        let requests = await fake.requests
        #expect(requests.count == 3)
        #expect(requests[0].header("Accept") == "application/json")
        #expect(requests[0].form?.first { $0.0 == "code_verifier" }?.1 == "the-verifier")
        for api in requests.dropFirst() {
            #expect(api.header("Accept") == "application/vnd.github+json")
            #expect(api.header("X-GitHub-Api-Version") == "2022-11-28")
            #expect(api.header("User-Agent") == "Tally")
        }
    }

    @Test func aBadCodeAnsweredWith200IsARefusal() async throws {
        await fake.setTokenAnswer(
            .json([
                "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.",
                "error_uri": "https://docs.github.com",
            ]))
        await #expect(throws: SSOError.gitHubRefused("bad_verification_code")) {
            try await client.exchange(code: "stale", verifier: "v")
        }
        #expect(await fake.requests.count == 1)
        #expect(SSOError.gitHubRefused("bad_verification_code").userMessage.contains("bad_verification_code"))
    }

    @Test func noVerifiedEmailGivesThePrimaryUnverified() async throws {
        await fake.setEmails([
            .init(email: "other@example.com", primary: false, verified: false),
            .init(email: "octo@example.com", primary: true, verified: false),
        ])
        let identity = try await client.exchange(code: "c", verifier: "v")
        #expect(identity.email == "octo@example.com" && !identity.emailVerified)
    }

    @Test func anUnverifiedPrimaryGivesWayToAVerifiedAddress() async throws {
        await fake.setEmails([
            .init(email: "octo@example.com", primary: true, verified: false),
            .init(email: "work@example.com", primary: false, verified: true),
        ])
        let identity = try await client.exchange(code: "c", verifier: "v")
        #expect(identity.email == "work@example.com" && identity.emailVerified)
    }

    @Test func noEmailsAtAll() async throws {
        await fake.setEmails([])
        let identity = try await client.exchange(code: "c", verifier: "v")
        #expect(identity.email == nil && !identity.emailVerified)
    }
}
