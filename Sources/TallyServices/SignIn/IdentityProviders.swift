import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An OpenID Connect provider (the generic one or Google's preset) as the sign-in flow sees it.
package struct OIDCProvider: IdentityProvider {
    package let client: OIDCClient
    package let label: String
    package var name: String { client.configuration.provider }

    package init(client: OIDCClient, label: String) {
        self.client = client
        self.label = label
    }

    package func authorizeURL(state: String, nonce: String, codeChallenge: String) async throws -> String {
        try await client.authorizeURL(state: state, nonce: nonce, codeChallenge: codeChallenge)
    }

    package func identity(code: String, codeVerifier: String, nonce: String) async throws -> ExternalIdentity {
        try await client.exchange(code: code, verifier: codeVerifier, nonce: nonce)
    }
}

/// GitHub: no nonce (there is no ID token to carry one); `state` and PKCE still bind the callback to its start.
package struct GitHubProvider: IdentityProvider {
    package let client: GitHubClient
    package var name: String { "github" }
    package var label: String { "GitHub" }

    package init(client: GitHubClient) { self.client = client }

    package func authorizeURL(state: String, nonce: String, codeChallenge: String) async throws -> String {
        client.authorizeURL(state: state, codeChallenge: codeChallenge)
    }

    package func identity(code: String, codeVerifier: String, nonce: String) async throws -> ExternalIdentity {
        try await client.exchange(code: code, verifier: codeVerifier)
    }
}

extension IdentityHTTPResponse {
    /// The live fetch over AsyncHTTPClient. Identity providers are named by the operator's configuration (never by a
    /// tenant), so the upstream address policy that guards tenants' `base_url`s does not apply: a company's Keycloak
    /// on a private address must work. Redirects are not followed (a token endpoint that redirects is misconfigured,
    /// and following one could carry the client secret elsewhere), and bodies are capped at `maxBodyBytes`.
    package static func liveFetch(client: HTTPClient = IdentityHTTPClient.shared, timeout: TimeAmount = .seconds(10))
        -> IdentityFetch
    {
        { request in
            var outgoing = HTTPClientRequest(url: request.url)
            outgoing.method = HTTPMethod(rawValue: request.method)
            for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
            if let body = request.formBody { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
            let response = try await client.execute(outgoing, timeout: timeout)
            let body = try await response.body.collect(upTo: maxBodyBytes)
            return IdentityHTTPResponse(status: Int(response.status.code), body: Array(buffer: body))
        }
    }
}

/// The HTTP client for identity providers: one per process, redirects refused. It lives as long as the process (like
/// `HTTPClient.shared`), so nothing has to shut it down.
package enum IdentityHTTPClient {
    package static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
