import Hummingbird
import TallyServices
import TallyWeb

/// What every answer tells the browser, so that markup slipping past `esc` still cannot run a script, the pages
/// cannot be framed (clickjacking), a JSON or text answer is never sniffed into HTML, and links to other sites
/// carry no path (which can hold an event id or a filter).
package enum SecurityHeaders {
    /// Scripts only from /assets plus the inline theme boot (by its hash); no inline handlers, no `eval`, no plugins,
    /// no `<base>`, forms and fetches to this origin only, never inside a frame.
    package static let contentSecurityPolicy = [
        "default-src 'none'",
        "script-src 'self' \(Script.themeBootHash)",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ].joined(separator: "; ")

    package static let fields: HTTPFields = [
        .init("Content-Security-Policy")!: contentSecurityPolicy,
        .init("X-Content-Type-Options")!: "nosniff",
        .init("Referrer-Policy")!: "same-origin",
        .init("X-Frame-Options")!: "DENY",
    ]

    package static func apply(to headers: inout HTTPFields) {
        for field in fields where headers[field.name] == nil { headers.append(field) }
    }
}

/// Adds `SecurityHeaders` to every answer: pages, redirects, assets, and errors (it sits outside `APIErrorMiddleware`,
/// so a thrown error is turned into its answer here and gets them too).
package struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        SecurityHeaders.apply(to: &response.headers)
        return response
    }
}
