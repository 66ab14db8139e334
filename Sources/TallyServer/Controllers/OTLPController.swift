import CompressNIO
import Hummingbird
import Metrics
import NIOCore
import TallyCore
import TallyHTTP
import TallyIngest
import TallyOTLP

/// `POST /v1/traces`: the OTLP/HTTP traces receiver (issue 22), at the path OTLP exporters append to an endpoint.
///
/// Protobuf or JSON, gzip or not, authenticated by a Tally token with `ingest` (exporters send configured headers).
/// Spans with the GenAI semantic conventions become `source: otlp` events (`TallyOTLP` maps them), attributed to
/// `tally.project` or the token's project, priced and committed through the same pipeline as the ingest API, before
/// the answer. The event id is the span's trace and span id, so an exporter's retry adds nothing. A span that cannot
/// become an event is counted in the answer's `partial_success` with the reason; the others are kept.
struct OTLPController<Store: AuthenticationStore & ProjectStore & EventStore> {
    let auth: Authenticator<Store>
    let pipeline: IngestPipeline<Store>

    /// Distinct `tally.project` values looked up per export.
    static var maxProjects: Int { 100 }

    /// The most bytes a request's body may have, as sent and once decompressed (OTLP batches of 512 spans take a
    /// few hundred KiB).
    static var maxBodyBytes: Int { OTLPTraces.maxBodyBytes }

    let acceptedCounter = Counter(label: "tally_otlp_spans_total", dimensions: [("result", "accepted")])
    let rejectedCounter = Counter(label: "tally_otlp_spans_total", dimensions: [("result", "rejected")])
    let ignoredCounter = Counter(label: "tally_otlp_spans_total", dimensions: [("result", "ignored")])

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("traces", use: traces)
    }

    @Sendable func traces(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(Scope.ingest, request)
        let encoding = try Self.encoding(request)
        var request = request
        let sent = try await request.collectBody(upTo: Self.maxBodyBytes)
        let body = try Self.decompressed(sent, request: request)
        let now = Instant.now
        let export = OTLPTraces.events(from: try OTLPTraces.decode(body, encoding: encoding), now: now)
        var rejected = export.rejectedSpans
        var reasons = export.rejectionMessage.isEmpty ? [] : [export.rejectionMessage]
        var projectReasons: [String] = []
        var stored: [StoredEvent] = []
        // Attributed by project, so that a span naming a project this token may not use (or none that exists) is
        // rejected alone, not with the whole export. At most `maxProjects` projects per export are looked up: spans
        // naming more are rejected without a store read.
        let byProject = Dictionary(grouping: export.events, by: \.attribution.project)
        for (index, key) in byProject.keys.sorted(by: { ($0 ?? "") < ($1 ?? "") }).enumerated() {
            let events = byProject[key]!
            guard index < Self.maxProjects else {
                rejected += Int64(events.count)
                projectReasons.append(
                    "\(events.count) span(s): more than \(Self.maxProjects) projects in one export")
                continue
            }
            do {
                stored += try await pipeline.attribute(events, principal: principal, receivedAt: now)
            } catch let error as TallyError {
                rejected += Int64(events.count)
                projectReasons.append(
                    "\(events.count) span(s) for project '\(String((key ?? "").prefix(64)))': \(Self.reason(error))")
            }
        }
        reasons += projectReasons.prefix(OTLPTraces.maxListedRejections)
        if projectReasons.count > OTLPTraces.maxListedRejections { reasons.append("…") }
        if !stored.isEmpty {
            _ = try await pipeline.committer.submit(
                EventBatch(organizationID: principal.organizationID, events: stored))
        }
        acceptedCounter.increment(by: stored.count)
        rejectedCounter.increment(by: Int(rejected))
        ignoredCounter.increment(by: export.ignoredSpans)
        let answer = OTLPTraces.response(
            rejectedSpans: rejected, message: reasons.joined(separator: "; "), encoding: encoding)
        return Response(
            status: .ok,
            headers: [.contentType: encoding == .json ? "application/json" : "application/x-protobuf"],
            body: .init(byteBuffer: ByteBuffer(bytes: answer)))
    }

    static func reason(_ error: TallyError) -> String {
        switch error {
        case .invalid(let problems): problems.map { "\($0.field) \($0.reason)" }.joined(separator: ", ")
        case .forbidden(let message): message
        default: "\(error)"
        }
    }

    /// `application/x-protobuf` (the exporters' default) or `application/json` (OTLP/JSON); anything else is 415.
    static func encoding(_ request: Request) throws -> OTLPEncoding {
        let contentType = request.headers[.contentType] ?? ""
        guard let encoding = OTLPEncoding(contentType: contentType) else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type must be application/x-protobuf or application/json (got '\(contentType.prefix(100))')")
        }
        return encoding
    }

    /// The body as sent, or inflated from gzip (`Content-Encoding: gzip`), never past `maxBodyBytes`.
    static func decompressed(_ sent: ByteBuffer, request: Request) throws -> [UInt8] {
        let encoding = (request.headers[.contentEncoding] ?? "identity").trimmingSpaces().lowercased()
        switch encoding {
        case "identity", "":
            return Array(sent.readableBytesView)
        case "gzip":
            do {
                return try Gzip.inflate(sent, maxSize: maxBodyBytes)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw APIError(
                    .contentTooLarge, "payload_too_large",
                    "the body inflates to more than \(maxBodyBytes >> 20) MiB; export smaller batches")
            } catch {
                throw TallyError.invalid([FieldProblem(field: "body", reason: "is not valid gzip")])
            }
        default:
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Encoding must be gzip or identity (got '\(encoding)')")
        }
    }
}
