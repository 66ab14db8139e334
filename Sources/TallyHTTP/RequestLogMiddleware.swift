import Hummingbird
import Logging

/// Logs each request's method and path, with the secrets a URI can carry replaced: an invite link's secret
/// (`/invites/<secret>`) and credentials in the query (`?key=` of Google's SDKs, and the like).
package struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    package let level: Logger.Level

    package init(level: Logger.Level) {
        self.level = level
    }

    /// Query parameters whose value is a credential.
    package static var secretParameters: Set<String> {
        ["key", "api_key", "apikey", "token", "access_token", "secret", "password"]
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        context.logger.log(
            level: level, "Request",
            metadata: [
                "hb.request.path": .string(Self.redacted(path: request.uri.path, query: request.uri.query)),
                "hb.request.method": .string(request.method.rawValue),
            ])
        return try await next(request, context)
    }

    package static func redacted(path: String, query: String?) -> String {
        var text = path
        if path.hasPrefix("/invites/") { text = "/invites/<redacted>" }
        guard let query, !query.isEmpty else { return text }
        let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, secretParameters.contains(parts[0].lowercased()) else { return String(pair) }
            return String(parts[0]) + "=<redacted>"
        }
        return text + "?" + pairs.joined(separator: "&")
    }
}
