import Hummingbird
import NIOCore
import TallyCore
import TallyDocuments
import TallyHTTP
import TallyServices

/// `GET /api/v1/exports/focus?from&to`: Tally's observed usage as a FinOps FOCUS 1.2 CSV, streamed a month at a time
/// (issue 20). Organization-wide, like statements.
struct FocusExportController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let focus: FocusExport<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("exports/focus", use: export)
    }

    @Sendable func export(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await StatementsController<Store>.organizationWide(auth, request)
        let params = try QueryParameters(request, allowed: ["from", "to"])
        let org = try await store.organization(id: principal.organizationID)
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let (from, to) = try params.boundedLocalRange(zone, now: .now)
        let focus = self.focus
        let organizationID = principal.organizationID
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: FocusCSV.header))
            try await focus.charges(organizationID: organizationID, from: from, to: to) { charges in
                // Written 500 rows at a time: a month of many projects and models never sits in memory as one text.
                var chunk = ""
                for (i, c) in charges.enumerated() {
                    chunk += FocusCSV.row(c)
                    if i % 500 == 499 {
                        try await writer.write(ByteBuffer(string: chunk))
                        chunk = ""
                    }
                }
                if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"tally-focus.csv\"",
            ], body: body)
    }
}
