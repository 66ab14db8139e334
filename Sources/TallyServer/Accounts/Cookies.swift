import Hummingbird

/// The two cookies Tally sets: the session, and the pre-login CSRF cookie of the login, setup and invite forms.
enum Cookies {
    static let session = "tally_session"
    static let csrf = "tally_csrf"

    static func value(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                if parts[0].trimmingSpaces == name { return parts[1].trimmingSpaces }
            }
        }
        return nil
    }

    /// `Secure` when the browser reached Tally over https: Tally serves plain HTTP, so that is a TLS-terminating
    /// proxy saying so with `X-Forwarded-Proto: https`. (A Secure cookie sent over plain http would never come back.)
    static func isSecure(_ request: Request, publicURL: String?) -> Bool {
        request.headers[.init("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    static func set(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    static func clear(_ name: String, secure: Bool) -> String {
        set(name, "", maxAge: 0, secure: secure)
    }
}
