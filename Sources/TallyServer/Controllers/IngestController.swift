import Hummingbird
import Metrics
import TallyCore
import TallyIngest
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

/// `POST /api/v1/events`: validate all, attribute, price, and answer only after the group commit.
struct IngestController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let committer: GroupCommitter
    let pricer: any Pricer

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
            let body = try await request.collectBody(upTo: EventDecoder.maxBodyBytes)
            let now = Instant.now
            let events = try EventDecoder.decode(Array(body.readableBytesView), format: format, now: now)
            let stored = try await attribute(events, principal: principal, receivedAt: now)
            let outcome = try await committer.submit(EventBatch(organizationID: principal.organizationID, events: stored))
            acceptedCounter.increment(by: outcome.accepted)
            duplicateCounter.increment(by: outcome.duplicates)
            return .json("{\"accepted\":\(outcome.accepted),\"duplicates\":\(outcome.duplicates)}")
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
            throw APIError(.unsupportedMediaType, "unsupported_media_type",
                           "Content-Type must be application/json or application/x-ndjson (got \(mediaType))")
        }
    }

    /// Resolves each event's project (the token's unless named; a session user must name one) and prices it.
    func attribute(_ events: [UsageEvent], principal: Principal, receivedAt: Instant) async throws -> [StoredEvent] {
        let organizationID = principal.organizationID
        let token = principal.token
        if let token, token.projectArchived {
            throw TallyError.forbidden("project '\(token.projectName)' is archived: it takes no new events")
        }
        var projects: [String: Project?] = [:]
        var problems: [FieldProblem] = []
        var stored: [StoredEvent] = []
        stored.reserveCapacity(events.count)
        for (index, var event) in events.enumerated() {
            var projectID = token?.projectID ?? ""
            var projectName = token?.projectName ?? ""
            if let name = event.attribution.project, name != token?.projectName {
                if let token, !token.allows(.admin) {
                    problems.append(FieldProblem(index: index, field: "project",
                                                 reason: "this token may only send events to project '\(token.projectName)'"))
                    continue
                }
                if projects[name] == nil {
                    projects[name] = .some(try await store.project(organizationID: organizationID, name: name))
                }
                guard let project = projects[name] ?? nil else {
                    problems.append(FieldProblem(index: index, field: "project", reason: "unknown project '\(name)'"))
                    continue
                }
                guard project.archivedAt == nil else {
                    problems.append(FieldProblem(index: index, field: "project", reason: "project '\(name)' is archived"))
                    continue
                }
                projectID = project.id
                projectName = project.name
            } else if token == nil {
                problems.append(FieldProblem(index: index, field: "project", reason: "is required when signed in rather than using a project token"))
                continue
            }
            event.attribution.project = projectName
            let quote = pricer.quote(event, organizationID: organizationID)
            stored.append(StoredEvent(event: event, organizationID: organizationID, projectID: projectID,
                                      projectName: projectName, receivedAt: receivedAt, cost: quote?.cost, priceID: quote?.priceID))
        }
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        return stored
    }
}
