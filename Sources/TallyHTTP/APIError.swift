import Hummingbird
import Logging
import NIOCore
import TallyCore

/// The one place where failures become HTTP responses: `{"error":{"code","message","details"}}`.
public struct APIError: HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: [FieldProblem]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, details: [FieldProblem] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public static let csrfFailed = APIError(
        .forbidden, "csrf_failed",
        "this request needs the session's CSRF token: the X-CSRF-Token header (from GET /api/v1/me) or the form's _csrf field"
    )

    public static func badParameter(_ name: String, _ reason: String) -> APIError {
        APIError(
            .badRequest, "invalid_request", "query parameter '\(name)' \(reason)",
            details: [FieldProblem(field: name, reason: reason)])
    }

    /// Maps any error to what the client may see; internal detail goes to the log only.
    public init(mapping error: any Error, logger: Logger) {
        switch error {
        case let e as APIError:
            self = e
        case let e as TallyError:
            switch e {
            case .invalid(let problems):
                let first = problems.first.map { "\($0.field) \($0.reason)" } ?? "invalid request"
                let more = problems.count > 1 ? " (and \(problems.count - 1) more problems in details)" : ""
                self.init(.badRequest, "invalid_request", first + more, details: problems)
            case .contentNotAllowed(let problems):
                self.init(
                    .badRequest, "content_not_allowed",
                    "Tally stores usage metadata only: remove prompt and response content fields", details: problems)
            case .tooLarge(let message): self.init(.contentTooLarge, "payload_too_large", message)
            case .totalTooLarge(let problems):
                let first = problems.first.map { "\($0.field) \($0.reason)" } ?? "a total is too large"
                self.init(.unprocessableContent, "total_too_large", first, details: problems)
            case .tooManyGroups(let limit):
                self.init(
                    .badRequest, "too_many_groups",
                    "group_by yields more than \(limit) groups: group by fewer dimensions, filter, or choose a shorter range",
                    details: [FieldProblem(field: "group_by", reason: "yields more than \(limit) groups")])
            case .notFound(let what): self.init(.notFound, "not_found", "\(what) was not found")
            case .conflict(let message): self.init(.conflict, "conflict", message)
            case .unauthenticated:
                self.init(
                    .unauthorized, "unauthorized",
                    "a valid API token (Authorization: Bearer <token>) or a signed-in session is required")
            case .forbidden(let message): self.init(.forbidden, "forbidden", message)
            case .unavailable(let message):
                logger.error("store unavailable", metadata: ["error": "\(message)"])
                self.init(.serviceUnavailable, "unavailable", "the database is unavailable; try again")
            case .throttled(let seconds):
                self.init(.tooManyRequests, "too_many_attempts", "too many attempts; try again in \(seconds) seconds")
                headers[.retryAfter] = String(seconds)
            case .gone(let what): self.init(.gone, "gone", what)
            case .providerRejected(let field, let message):
                self.init(
                    .unprocessableContent, "provider_rejected_key", message,
                    details: [FieldProblem(field: field, reason: message)])
            case .upstreamNotAllowed(let field, let message):
                self.init(
                    .unprocessableContent, "upstream_not_allowed", "\(field) \(message)",
                    details: [FieldProblem(field: field, reason: message)])
            }
        case is NIOTooManyBytesError:
            self.init(.contentTooLarge, "payload_too_large", "the request body exceeds 1 MiB")
        case let e as HTTPError:
            let code =
                switch e.status.code {
                case 404: "not_found"
                case 405: "method_not_allowed"
                case 413: "payload_too_large"
                case 400..<500: "invalid_request"
                default: "internal_error"
                }
            self.init(e.status, code, e.body ?? e.status.reasonPhrase)
        default:
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            self.init(.internalServerError, "internal_error", "an internal error occurred")
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        w.key("details")
        w.beginArray()
        for d in details {
            w.beginObject()
            if let index = d.index { w.field("index", index) }
            w.field("field", d.field)
            w.field("reason", d.reason)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        w.endObject()
        var response = Response.json(w.text, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

package struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            throw APIError(mapping: error, logger: context.logger)
        }
    }
}

extension Response {
    package static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
