import Foundation
import Hummingbird
import NIOCore
import Prometheus
import TallyCore
import TallyGateway
import TallyHTTP
import TallyPrice
import TallyServices
import TallyWeb

/// Health, readiness, Prometheus metrics and the OpenAPI document.
struct OperationsController<Store: SchemaStore> {
    let store: Store
    let registry: PrometheusCollectorRegistry?
    /// TALLY_METRICS_TOKEN: nil leaves /metrics open (as for a scraper on a private network).
    var metricsToken: String?
    /// The catalog in force and how the last read of TALLY_PRICES_URL went, for `/readyz`'s details.
    var pricer: CatalogPricer
    var catalogURLStatus: CatalogURLStatus?

    func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("healthz") { _, _ in Response.json("{\"status\":\"ok\"}") }
        router.get("readyz") { _, _ in
            let ready = await store.isReady()
            return Response.json(
                ReadinessJSON.json(
                    ready: ready, catalog: pricer.inForce, url: catalogURLStatus?.snapshot),
                status: ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { request, _ in
            try checkMetricsToken(request)
            var buffer: [UInt8] = []
            registry?.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("api/v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
    }

    /// The request's bearer token against TALLY_METRICS_TOKEN, in constant time.
    func checkMetricsToken(_ request: Request) throws {
        guard let metricsToken else { return }
        let header = request.headers[.authorization] ?? ""
        let given = header.lowercased().hasPrefix("bearer ") ? String(header.dropFirst(7)) : ""
        guard constantTimeEqual(given, metricsToken) else {
            var error = APIError(
                .unauthorized, "unauthorized", "GET /metrics needs Authorization: Bearer <TALLY_METRICS_TOKEN>")
            error.headers[.wwwAuthenticate] = "Bearer realm=\"tally-metrics\""
            throw error
        }
    }
}

public enum OpenAPIDocument {
    /// The document compiled into the binary (scripts/embed-data); a test holds it to the router's routes.
    public static let bytes: [UInt8] = Array(OpenAPIDocumentData.json.utf8)
}
