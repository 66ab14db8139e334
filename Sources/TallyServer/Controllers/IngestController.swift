import Hummingbird
import Metrics
import TallyCore
import TallyGateway
import TallyHTTP
import TallyIngest
import TallyServices
import TallyWeb

/// `POST /api/v1/events`: the body through the ingest pipeline (validate all, attribute, price, group commit), answered
/// only once its events are committed.
struct IngestController<Store: AuthenticationStore & ProjectStore & EventStore> {
    let auth: Authenticator<Store>
    let pipeline: IngestPipeline<Store>

    let acceptedCounter = Counter(label: "tally_ingest_events_total", dimensions: [("result", "accepted")])
    let duplicateCounter = Counter(label: "tally_ingest_events_total", dimensions: [("result", "duplicate")])
    let rejectedCounter = Counter(label: "tally_ingest_requests_rejected_total")

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("events", use: ingest)
    }

    @Sendable func ingest(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(Scope.ingest, request)
        do {
            let format = try Self.format(request)
            var request = request
            let body = try await request.collectBody(upTo: EventRules.maxBodyBytes)
            let outcome = try await pipeline.ingest(
                Array(body.readableBytesView), format: format, principal: principal, now: .now)
            acceptedCounter.increment(by: outcome.accepted)
            duplicateCounter.increment(by: outcome.duplicates)
            return .json(EventJSON.ingested(outcome))
        } catch {
            rejectedCounter.increment()
            throw error
        }
    }

    static func format(_ request: Request) throws -> EventDecoder.Format {
        guard let contentType = request.headers[.contentType] else { return .json }
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingSpaces.lowercased() } ?? ""
        switch mediaType {
        case "application/json", "": return .json
        case "application/x-ndjson", "application/ndjson", "application/jsonl": return .ndjson
        default:
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type must be application/json or application/x-ndjson (got \(mediaType))")
        }
    }
}
