import Hummingbird
import TallyCore

/// The cookies Tally sets: the session, the pre-login CSRF cookie of the login, setup and invite forms, and the two
/// short-lived ones of single sign-on and the second step.
package enum Cookies {
    package static let session = "tally_session"
    package static let csrf = "tally_csrf"
    /// A single sign-on's `state`, so the callback is accepted only in the browser that started it (issue 23).
    package static let singleSignOn = "tally_sso"
    /// The second step of a sign-in with two-factor: the challenge the password (or SSO) passed.
    package static let challenge = "tally_2fa"

    package static func value(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                if parts[0].trimmingSpaces == name { return parts[1].trimmingSpaces }
            }
        }
        return nil
    }

    /// `Secure` when people reach Tally over https: TALLY_PUBLIC_URL says so, or (without it) a TLS-terminating proxy
    /// with `X-Forwarded-Proto: https`. With an https public URL the cookie is Secure even on a request that came in
    /// over http, so a proxy that forgets the header (or a plain-http path to the same host) never carries it in clear.
    /// (A Secure cookie set over plain http without such a URL would never come back.)
    package static func isSecure(_ request: Request, publicURL: String?) -> Bool {
        if publicURL?.lowercased().hasPrefix("https://") == true { return true }
        return request.headers[.init("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    package static func set(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    package static func clear(_ name: String, secure: Bool) -> String {
        set(name, "", maxAge: 0, secure: secure)
    }
}
