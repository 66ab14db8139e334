import Foundation
import TallyCore

/// One call to an identity provider. The sign-in clients build these and never touch the network themselves: the
/// server passes a fetch over its HTTP client, and tests pass an in-memory provider.
package struct IdentityHTTPRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(String, String)]
    /// An `application/x-www-form-urlencoded` body (the `Content-Type` header is already among `headers`).
    package var form: [(String, String)]?

    package init(method: String, url: String, headers: [(String, String)] = [], form: [(String, String)]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.form = form
    }

    /// The form as the bytes to send.
    package var formBody: [UInt8]? { form.map { Array(Self.encoded($0).utf8) } }

    /// `name=value&…` with every byte outside the unreserved set percent-encoded, for a form body or a query. A space
    /// is `%20` rather than `+`: both decode the same in a form, and only this one is right in a query.
    package static func encoded(_ pairs: [(String, String)]) -> String {
        pairs.map { TextEncoding.percentEncoded($0.0) + "=" + TextEncoding.percentEncoded($0.1) }
            .joined(separator: "&")
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

package struct IdentityHTTPResponse: Sendable {
    /// The largest body read: a discovery document, key set or profile is a few KiB, so anything near this is not one.
    package static let maxBodyBytes = 1 << 20

    package var status: Int
    package var body: [UInt8]

    package init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// Sends one request and returns the whole response. Throwing means the provider could not be reached.
package typealias IdentityFetch = @Sendable (IdentityHTTPRequest) async throws -> IdentityHTTPResponse

/// Who the provider says signed in, once every check passed.
package struct ExternalIdentity: Sendable, Equatable {
    /// `oidc`, `google` or `github`: which configured provider vouched.
    package var provider: String
    /// With `subject`, the durable name of the account at the provider; emails change, these do not.
    package var issuer: String
    package var subject: String
    package var email: String?
    /// Whether the provider says it proved the person owns `email`; an unverified email never matches an account.
    package var emailVerified: Bool
    package var name: String?

    package init(
        provider: String, issuer: String, subject: String, email: String?, emailVerified: Bool, name: String?
    ) {
        self.provider = provider
        self.issuer = issuer
        self.subject = subject
        self.email = email
        self.emailVerified = emailVerified
        self.name = name
    }
}

/// What the two clients share: calling through the fetch, bounding what is read, decoding JSON.
enum IdentityCall {
    /// Calls the provider. A fetch that throws becomes `unreachable` (cancellation excepted); a body over 1 MiB is
    /// refused before anything parses it.
    static func send(_ request: IdentityHTTPRequest, fetch: IdentityFetch, what: String) async throws
        -> IdentityHTTPResponse
    {
        let response: IdentityHTTPResponse
        do {
            response = try await fetch(request)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw SSOError.unreachable(what)
        }
        guard response.body.count <= IdentityHTTPResponse.maxBodyBytes else { throw SSOError.responseTooLarge(what) }
        return response
    }

    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(body))
    }

    /// An OAuth `error` code (RFC 6749 §5.2) fit to show and log: only `[A-Za-z0-9_.-]`, at most 64 characters, else
    /// nil. Providers' `error_description` is never kept: it may quote what was sent.
    static func errorCode(in body: [UInt8]) -> String? {
        struct OAuthError: Decodable { let error: String? }
        guard let code = decode(OAuthError.self, from: body)?.error, !code.isEmpty, code.utf8.count <= 64,
            code.utf8.allSatisfy({ c in
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                    true
                default: false
                }
            })
        else { return nil }
        return code
    }

    /// `url` with the query appended (after `?`, or `&` when the URL has a query already).
    static func url(_ base: String, query: [(String, String)]) -> String {
        base + (base.contains("?") ? "&" : "?") + IdentityHTTPRequest.encoded(query)
    }

    /// `https://host/` and `https://host` name the same place; joining paths needs one form.
    static func trimmingSlash(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}
