import Foundation
import Hummingbird
import NIOCore
import TallyCore
import TallyDocuments
import TallyGateway
import TallyHTTP
import TallyPrice
import TallyServices
import TallyWeb

/// Reading events: the newest-first list, one event, and the streamed export.
struct EventsController<
    Store: AuthenticationStore & EventStore & OrganizationStore & ProjectStore & TeamStore & EventContentStore
        & AuditStore & RetentionStore
> {
    let store: Store
    let auth: Authenticator<Store>
    let pricer: CatalogPricer
    /// Opens captured bodies (issue 21); nil without a master key, when nothing is ever captured.
    let vault: Vault?

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("events", use: list)
        group.get("events/export", use: export)
        group.get("events/:id", use: show)
        group.get("events/:id/receipt", use: receipt)
        group.get("events/:id/content", use: content)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["limit", "cursor", "from", "to", "flag"])
        var query = try await eventQuery(params, principal: principal)
        query.limit = try params.integer("limit", in: 1...1000) ?? 100
        if let raw = params["cursor"] {
            guard let cursor = EventCursor(token: raw) else {
                throw APIError.badParameter("cursor", "is not a cursor this API returned")
            }
            query.after = cursor
        }
        let page = try await store.events(query)
        // Where raw events begin once retention has trimmed older ones (null: nothing trimmed).
        let rawFrom = try await store.retentionBoundaries().rawEventsFrom
        return .json(
            ListJSON.page(page.events, nextCursor: page.next?.token, EventJSON.write) { w in
                w.field("raw_events_from", rawFrom?.rfc3339)
            })
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let id = try context.parameters.require("id")
        let scope = principal.projectScope
        guard let event = try await store.event(organizationID: principal.organizationID, id: id, projectIDs: scope)
        else {
            throw TallyError.notFound("event '\(id)'")
        }
        return .json(EventJSON.detail(event, breakdown: pricer.breakdown(event)))
    }

    /// A receipt for one call (issue 20): `?format=txt` (the default) or `pdf`, from the entry it was priced with.
    @Sendable func receipt(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters(request, allowed: ["format"])
        let format = params["format"] ?? "txt"
        guard format == "txt" || format == "pdf" else { throw APIError.badParameter("format", "must be txt or pdf") }
        // The id percent-encoded, as the event page links it (ids are the client's: any characters); a control
        // character is no event's and never reaches the store (PostgreSQL refuses NUL).
        let raw = try context.parameters.require("id")
        let id = raw.removingPercentEncoding ?? raw
        guard !id.containsControlCharacters,
            let event = try await store.event(
                organizationID: principal.organizationID, id: id, projectIDs: principal.projectScope),
            let organization = try await store.organization(id: principal.organizationID)
        else { throw TallyError.notFound("event '\(id.prefix(64))'") }
        let receipt = Receipts.receipt(event, breakdown: pricer.breakdown(event), organization: organization)
        return format == "pdf"
            ? Download.response(
                try ReceiptPDF.render(receipt, fonts: try DocumentFonts.standard()), "application/pdf",
                "tally-receipt-\(receipt.number).pdf")
            : Download.response(
                Array(ReceiptText.render(receipt).utf8), "text/plain; charset=utf-8",
                "tally-receipt-\(receipt.number).txt")
    }

    enum ExportFormat: String { case csv, json, ndjson }

    /// Streams page by page (keyset pagination), so memory stays constant for millions of rows.
    @Sendable func export(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["format", "from", "to", "flag"])
        guard let format = ExportFormat(rawValue: params["format"] ?? "csv") else {
            throw APIError.badParameter("format", "must be csv, json or ndjson")
        }
        var query = try await eventQuery(params, principal: principal)
        query.limit = 1000
        let store = self.store
        let contentType =
            switch format {
            case .csv: "text/csv; charset=utf-8"
            case .json: "application/json; charset=utf-8"
            case .ndjson: "application/x-ndjson"
            }
        let body = ResponseBody { [query] writer in
            var query = query
            var first = true
            switch format {
            case .csv: try await writer.write(ByteBuffer(string: EventJSON.csvHeader))
            case .json: try await writer.write(ByteBuffer(string: "["))
            case .ndjson: break
            }
            while true {
                let page = try await store.events(query)
                var chunk = ""
                for event in page.events {
                    switch format {
                    case .csv: chunk += EventJSON.csvRow(event)
                    case .json: chunk += (first ? "" : ",") + EventJSON.json(event)
                    case .ndjson: chunk += EventJSON.json(event) + "\n"
                    }
                    first = false
                }
                if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
                guard let next = page.next else { break }
                query.after = next
            }
            if format == .json { try await writer.write(ByteBuffer(string: "]")) }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: contentType,
                .contentDisposition: "attachment; filename=\"tally-events.\(format.rawValue)\"",
            ], body: body)
    }

    /// A bare date in `from`/`to` is the organization's local midnight.
    func eventQuery(_ params: QueryParameters, principal: Principal) async throws -> EventQuery {
        let zone = try await organizationZone(principal)
        return EventQuery(
            organizationID: principal.organizationID,
            filters: try await params.filters(store: store, principal: principal),
            from: try params.instant("from", bareDate: .localMidnight(zone)),
            to: try params.instant("to", bareDate: .localMidnight(zone)),
            flags: try Self.flags(params)
        )
    }

    /// `flag=pii.email,truncated`: events carrying any of them (safety or quality flags, issue 21).
    static func flags(_ params: QueryParameters) throws -> [String] {
        guard let raw = params["flag"] else { return [] }
        let flags = raw.split(separator: ",").map(String.init)
        guard !flags.isEmpty, flags.count <= 20,
            flags.allSatisfy({ $0.utf8.count <= 128 && !$0.containsControlCharacters })
        else { throw APIError.badParameter("flag", "must be 1 to 20 flags of at most 128 bytes, separated by commas") }
        return flags
    }

    /// The captured request and response of one event (issue 21): admins only, each reading audited. Rendered by
    /// clients as text; the JSON carries them as strings.
    @Sendable func content(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageContent, request)
        let raw = try context.parameters.require("id")
        let id = raw.removingPercentEncoding ?? raw
        guard !id.containsControlCharacters,
            let event = try await store.event(
                organizationID: principal.organizationID, id: id, projectIDs: principal.projectScope)
        else { throw TallyError.notFound("event '\(id.prefix(64))'") }
        let opened = try await EventContentReader(store: store, vault: vault).open(event, actor: principal.actor)
        return .json(EventJSON.content(opened, eventID: event.event.id))
    }

    func organizationZone(_ principal: Principal) async throws -> TimeZoneRules {
        let org = try await store.organization(id: principal.organizationID)
        return org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
    }
}
