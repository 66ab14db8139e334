/// Sign-in with GitHub: OAuth 2 with PKCE, then the profile and email addresses from the REST API (GitHub issues no
/// ID token). Every network call goes through `fetch`.
package struct GitHubClient: Sendable {
    /// Where people sign in (`/login/oauth/…`); GitHub Enterprise Server has its own.
    package var baseURL: String
    package var apiURL: String
    package var clientID: String
    package var clientSecret: String
    package var redirectURI: String
    /// GitHub refuses API calls without a User-Agent.
    package var userAgent: String
    private let fetch: IdentityFetch

    package static let scope = "read:user user:email"

    package init(
        baseURL: String = "https://github.com", apiURL: String = "https://api.github.com", clientID: String,
        clientSecret: String, redirectURI: String, userAgent: String = "Tally", fetch: @escaping IdentityFetch
    ) {
        self.baseURL = IdentityCall.trimmingSlash(baseURL)
        self.apiURL = IdentityCall.trimmingSlash(apiURL)
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURI = redirectURI
        self.userAgent = userAgent
        self.fetch = fetch
    }

    /// The issuer identities from this GitHub carry: the base URL, `https://github.com` unless it is a GitHub
    /// Enterprise Server, whose user 42 is not github.com's user 42.
    package var issuer: String { baseURL }

    package func authorizeURL(state: String, codeChallenge: String) -> String {
        IdentityCall.url(
            baseURL + "/login/oauth/authorize",
            query: [
                ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI),
                ("scope", Self.scope), ("state", state), ("code_challenge", codeChallenge),
                ("code_challenge_method", "S256"),
            ])
    }

    /// Redeems the code for an access token, then reads who it belongs to. The email is the primary one if GitHub
    /// verified it, else another verified one; with none verified it is the primary one, marked unverified.
    package func exchange(code: String, verifier: String) async throws -> ExternalIdentity {
        let token = try await accessToken(code: code, verifier: verifier)

        struct User: Decodable {
            let id: Int64
            let login: String?
            let name: String?
        }
        guard let user = IdentityCall.decode(User.self, from: try await api("/user", token: token, what: "user"))
        else { throw SSOError.gitHubFailed("user") }

        struct Email: Decodable {
            let email: String
            let primary: Bool?
            let verified: Bool?
        }
        let body = try await api("/user/emails", token: token, what: "emails")
        guard let emails = IdentityCall.decode([Email].self, from: body) else { throw SSOError.gitHubFailed("emails") }
        let primary = emails.first { $0.primary == true }
        let chosen = primary?.verified == true ? primary : emails.first { $0.verified == true } ?? primary

        let name = user.name.flatMap { $0.isEmpty ? nil : $0 } ?? user.login
        return ExternalIdentity(
            provider: "github", issuer: issuer, subject: String(user.id), email: chosen?.email,
            emailVerified: chosen?.verified == true, name: name)
    }

    /// GitHub answers a bad code with 200 and `{"error": "bad_verification_code", …}`: any `error`, or no token, is a
    /// refusal.
    private func accessToken(code: String, verifier: String) async throws -> String {
        let response = try await IdentityCall.send(
            IdentityHTTPRequest(
                method: "POST", url: baseURL + "/login/oauth/access_token",
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
                    ("User-Agent", userAgent),
                ],
                form: [
                    ("client_id", clientID), ("client_secret", clientSecret), ("code", code),
                    ("redirect_uri", redirectURI), ("code_verifier", verifier),
                ]),
            fetch: fetch, what: "token")
        struct TokenResponse: Decodable {
            let accessToken: String?
            let error: String?
            enum CodingKeys: String, CodingKey {
                case accessToken = "access_token"
                case error
            }
        }
        guard response.status == 200, let answer = IdentityCall.decode(TokenResponse.self, from: response.body),
            answer.error == nil, let token = answer.accessToken, !token.isEmpty
        else { throw SSOError.gitHubRefused(IdentityCall.errorCode(in: response.body)) }
        return token
    }

    private func api(_ path: String, token: String, what: String) async throws -> [UInt8] {
        let response = try await IdentityCall.send(
            IdentityHTTPRequest(
                method: "GET", url: apiURL + path,
                headers: [
                    ("Authorization", "Bearer " + token), ("Accept", "application/vnd.github+json"),
                    ("X-GitHub-Api-Version", "2022-11-28"), ("User-Agent", userAgent),
                ]),
            fetch: fetch, what: what)
        guard response.status == 200 else { throw SSOError.gitHubFailed(what) }
        return response.body
    }
}
