import Hummingbird
import TallyCore

/// The two cookies Tally sets: the session, and the pre-login CSRF cookie of the login, setup and invite forms.
package enum Cookies {
    package static let session = "tally_session"
    package static let csrf = "tally_csrf"

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
