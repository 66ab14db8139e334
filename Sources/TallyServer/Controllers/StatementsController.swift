import Hummingbird
import NIOCore
import TallyCore
import TallyDocuments
import TallyHTTP
import TallyServices

/// Period statements and closed months (issue 20): `GET /api/v1/statements` in four formats, and
/// `POST /api/v1/periods/{month}/close|reopen` (admins and owners, audited), `GET /api/v1/periods`.
struct StatementsController<Store: TallyStore> {
    let auth: Authenticator<Store>
    let statements: StatementService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("statements", use: statement)
        group.get("periods", use: periods)
        group.post("periods/:month/close", use: close)
        group.post("periods/:month/reopen", use: reopen)
    }

    enum Format: String, CaseIterable { case json, csv, txt, pdf }

    @Sendable func statement(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await Self.organizationWide(auth, request)
        let params = try QueryParameters(request, allowed: ["period", "billing_cycle", "group_by", "format"])
        guard let format = Format(rawValue: params["format"] ?? "json") else {
            throw APIError.badParameter("format", "must be json, csv, txt or pdf")
        }
        let groupBy = try StatementGroupings.parse(params["group_by"])
        let s = try await statements.statement(
            period: params["period"], billingCycle: params["billing_cycle"], groupBy: groupBy,
            organizationID: principal.organizationID)
        let name = "tally-statement-\(s.period.label)-\(s.groupBy)"
        switch format {
        case .json: return .json(StatementCodec.encode(s))
        case .csv:
            return Download.response(Array(StatementCSV.render(s).utf8), "text/csv; charset=utf-8", name + ".csv")
        case .txt:
            return Download.response(Array(StatementText.render(s).utf8), "text/plain; charset=utf-8", name + ".txt")
        case .pdf:
            return Download.response(
                try StatementPDF.render(s, fonts: try DocumentFonts.standard()), "application/pdf", name + ".pdf")
        }
    }

    @Sendable func periods(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await Self.organizationWide(auth, request)
        _ = try QueryParameters(request, allowed: [])
        return .json(
            ListJSON.list(try await statements.closedPeriods(organizationID: principal.organizationID)) {
                ReportJSON.writeClosedPeriod($0, into: &$1)
            })
    }

    @Sendable func close(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.editOrganization, request)
        let closed = try await statements.close(month: try context.parameters.require("month"), principal: principal)
        return .json(ReportJSON.closedPeriod(closed), status: .created)
    }

    @Sendable func reopen(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.editOrganization, request)
        let month = try context.parameters.require("month")
        try await statements.reopen(month: month, principal: principal)
        return .json(ReportJSON.reopened(month))
    }

    /// Statements and closed months cover every project: a token limited to one project does not read them.
    static func organizationWide(_ auth: Authenticator<Store>, _ request: Request) async throws -> Principal {
        let principal = try await auth.require(.read, request)
        guard principal.projectScope == nil else {
            throw TallyError.forbidden("statements cover every project: they need an admin token or a signed-in member")
        }
        return principal
    }
}

/// A document to save (a statement, a receipt): its type, and a file name made only of what Tally chose (a period,
/// a grouping, a receipt number), never user text, so the header needs no escaping.
enum Download {
    static func response(_ bytes: [UInt8], _ type: String, _ fileName: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .contentDisposition: "attachment; filename=\"\(fileName)\""],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
