import Foundation
import TallyCore
import TallyServices

/// The sign-in settings of issue 23, read from the environment only (they hold client secrets, which do not belong
/// on a command line that `ps` shows).
public struct SignInConfig: Sendable, Equatable {
    public struct OIDC: Sendable, Equatable {
        public var issuer: String
        public var clientID: String
        public var clientSecret: String
        public var scopes: [String]
        public var name: String
    }

    public struct GitHub: Sendable, Equatable {
        public var clientID: String
        public var clientSecret: String
        public var url: String
        public var apiURL: String
    }

    public var signUp = SignUpSettings()
    public var oidc: OIDC?
    public var google: OIDC?
    public var github: GitHub?

    public init() {}

    public enum Variable: String, CaseIterable, Sendable {
        case signUp = "TALLY_SIGNUP"
        case oidcIssuer = "TALLY_OIDC_ISSUER", oidcClientID = "TALLY_OIDC_CLIENT_ID"
        case oidcClientSecret = "TALLY_OIDC_CLIENT_SECRET", oidcScopes = "TALLY_OIDC_SCOPES", oidcName =
            "TALLY_OIDC_NAME"
        case oidcSignUp = "TALLY_OIDC_SIGNUP", oidcDefaultOrganization = "TALLY_OIDC_DEFAULT_ORGANIZATION"
        case oidcDefaultRole = "TALLY_OIDC_DEFAULT_ROLE", oidcAllowedDomains = "TALLY_OIDC_ALLOWED_DOMAINS"
        case googleClientID = "TALLY_GOOGLE_CLIENT_ID", googleClientSecret = "TALLY_GOOGLE_CLIENT_SECRET"
        case googleIssuer = "TALLY_GOOGLE_ISSUER"
        case githubClientID = "TALLY_GITHUB_CLIENT_ID", githubClientSecret = "TALLY_GITHUB_CLIENT_SECRET"
        case githubURL = "TALLY_GITHUB_URL", githubAPIURL = "TALLY_GITHUB_API_URL"
    }

    /// Every wrong value is returned (none echoes a secret); a provider is configured only when its id and secret
    /// are both set, and one without the other is a problem rather than a silently missing button.
    static func load(_ environment: [String: String]) -> (SignInConfig, [AppConfig.Problem]) {
        var config = SignInConfig()
        var problems: [AppConfig.Problem] = []
        func value(_ v: Variable) -> String? {
            guard let text = environment[v.rawValue]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
                return nil
            }
            return text
        }
        func problem(_ v: Variable, _ reason: String) { problems.append(.init(source: v.rawValue, reason: reason)) }
        func url(_ v: Variable) -> String? {
            guard let text = value(v) else { return nil }
            guard text.hasPrefix("https://") || text.hasPrefix("http://") else {
                problem(v, "must be an http(s) URL (got \"\(text.prefix(64))\")")
                return nil
            }
            return text.hasSuffix("/") ? String(text.dropLast()) : text
        }
        func pair(_ id: Variable, _ secret: Variable) -> (String, String)? {
            switch (value(id), value(secret)) {
            case (let i?, let s?): return (i, s)
            case (nil, nil): return nil
            case (nil, _):
                problem(id, "must be set when \(secret.rawValue) is")
                return nil
            case (_, nil):
                problem(secret, "must be set when \(id.rawValue) is")
                return nil
            }
        }

        if let mode = value(.signUp) {
            if let parsed = SignUpSettings.PasswordSignUp(rawValue: mode.lowercased()) {
                config.signUp.passwords = parsed
            } else {
                problem(.signUp, "must be invite or open (got \"\(mode.prefix(32))\")")
            }
        }
        if let mode = value(.oidcSignUp) {
            if let parsed = SignUpSettings.SSOSignUp(rawValue: mode.lowercased()) {
                config.signUp.sso = parsed
            } else {
                problem(.oidcSignUp, "must be off, invite or open (got \"\(mode.prefix(32))\")")
            }
        }
        config.signUp.defaultOrganization = value(.oidcDefaultOrganization)
        if let role = value(.oidcDefaultRole) {
            if let parsed = Role(rawValue: role.lowercased()), parsed != .owner {
                config.signUp.defaultRole = parsed
            } else {
                problem(.oidcDefaultRole, "must be viewer, member or admin (got \"\(role.prefix(32))\")")
            }
        }
        if let domains = value(.oidcAllowedDomains) {
            config.signUp.allowedDomains = domains.split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        }

        let issuer = url(.oidcIssuer)
        if let (id, secret) = pair(.oidcClientID, .oidcClientSecret) {
            if let issuer {
                let scopes =
                    value(.oidcScopes)?.split(separator: " ").map(String.init) ?? ["openid", "email", "profile"]
                config.oidc = OIDC(
                    issuer: issuer, clientID: id, clientSecret: secret, scopes: scopes,
                    name: value(.oidcName) ?? "Single sign-on")
            } else if value(.oidcIssuer) == nil {
                problem(.oidcIssuer, "must be set when TALLY_OIDC_CLIENT_ID is (the provider's issuer URL)")
            }
        } else if issuer != nil, value(.oidcClientID) == nil, value(.oidcClientSecret) == nil {
            problem(.oidcClientID, "must be set when TALLY_OIDC_ISSUER is")
        }
        let googleIssuer = url(.googleIssuer) ?? "https://accounts.google.com"
        if let (id, secret) = pair(.googleClientID, .googleClientSecret) {
            config.google = OIDC(
                issuer: googleIssuer, clientID: id, clientSecret: secret, scopes: ["openid", "email", "profile"],
                name: "Google")
        }
        let githubURL = url(.githubURL) ?? "https://github.com"
        let githubAPI = url(.githubAPIURL) ?? "https://api.github.com"
        if let (id, secret) = pair(.githubClientID, .githubClientSecret) {
            config.github = GitHub(clientID: id, clientSecret: secret, url: githubURL, apiURL: githubAPI)
        }
        return (config, problems)
    }

    /// The configured providers, in the order of their buttons. Redirect URIs are `<public url>/login/sso/<name>/callback`.
    func providers(publicURL: String, fetch: @escaping IdentityFetch = IdentityHTTPResponse.liveFetch())
        -> [any IdentityProvider]
    {
        func redirect(_ name: String) -> String { publicURL + "/login/sso/" + name + "/callback" }
        var providers: [any IdentityProvider] = []
        if let oidc {
            let configuration = OIDCClient.Configuration(
                issuer: oidc.issuer, clientID: oidc.clientID, clientSecret: oidc.clientSecret, scopes: oidc.scopes,
                redirectURI: redirect("oidc"))
            providers.append(
                OIDCProvider(client: OIDCClient(configuration: configuration, fetch: fetch), label: oidc.name))
        }
        if let google {
            let configuration = OIDCClient.Configuration.google(
                clientID: google.clientID, clientSecret: google.clientSecret, redirectURI: redirect("google"),
                issuer: google.issuer)
            providers.append(
                OIDCProvider(client: OIDCClient(configuration: configuration, fetch: fetch), label: "Google"))
        }
        if let github {
            providers.append(
                GitHubProvider(
                    client: GitHubClient(
                        baseURL: github.url, apiURL: github.apiURL, clientID: github.clientID,
                        clientSecret: github.clientSecret, redirectURI: redirect("github"), fetch: fetch)))
        }
        return providers
    }
}
