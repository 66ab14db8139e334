import Hummingbird
import TallyCore

/// Provider sync: run one now, and the list of runs.
struct SyncController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let runner: SyncRunner<Store>
    let holder = Identifier.make("api")

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("provider-connections/:id/sync", use: sync)
        group.get("sync-runs", use: runs)
    }

    /// Runs a sync now and answers with the finished run (`{"from","to"}` optional: default the last 3 days).
    /// While another sync of the connection holds its lease (any replica), 409.
    @Sendable func sync(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        let id = try context.parameters.require("id")
        guard let connection = try await store.connection(organizationID: principal.organizationID, id: id) else {
            throw TallyError.notFound("provider connection '\(id)'")
        }
        let fields = try JSONBody.Fields(try await JSONBody.read(request, emptyIsObject: true), allowed: ["from", "to"])
        let now = Instant.now
        let to = try fields.instant("to", required: false) ?? now
        let from = try fields.instant("from", required: false) ?? to.adding(seconds: -3 * 86_400)
        guard from < to else { throw TallyError.invalid([FieldProblem(field: "from", reason: "must be before 'to'")]) }
        guard to.microseconds - from.microseconds <= 366 * 86_400_000_000 else {
            throw TallyError.invalid([FieldProblem(field: "from", reason: "a sync may span at most 365 days")])
        }
        guard try await store.acquireSyncLease(connectionID: id, holder: holder, until: now.adding(seconds: 900), now: now) else {
            throw TallyError.conflict("a sync of this connection is running; try again when it has finished")
        }
        do {
            let run = try await runner.run(connection, from: from, to: to, trigger: .manual)
            try await store.releaseSyncLease(connectionID: id, holder: holder)
            return .json(SyncJSON.run(run))
        } catch {
            try? await store.releaseSyncLease(connectionID: id, holder: holder)
            throw error
        }
    }

    @Sendable func runs(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let params = try QueryParameters(request, allowed: ["connection", "limit"])
        let limit = try params.integer("limit", in: 1...500) ?? 50
        let list = try await store.syncRuns(organizationID: principal.organizationID, connectionID: params.values["connection"], limit: limit)
        var w = JSONWriter()
        w.beginObject()
        w.key("data")
        w.beginArray()
        for run in list { SyncJSON.write(run, into: &w) }
        w.endArray()
        w.endObject()
        return .json(w.text)
    }
}

enum SyncJSON {
    static func write(_ r: SyncRun, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", r.id)
        w.field("connection_id", r.connectionID)
        w.field("trigger", r.trigger.rawValue)
        w.field("from", r.from.rfc3339)
        w.field("to", r.to.rfc3339)
        w.field("status", r.status.rawValue)
        w.field("pages", r.pages)
        w.field("rows", r.rows)
        w.field("started_at", r.startedAt.rfc3339)
        w.field("finished_at", r.finishedAt?.rfc3339)
        w.field("duration_ms", r.finishedAt.map { ($0.microseconds - r.startedAt.microseconds) / 1000 })
        w.field("error", r.error)
        w.endObject()
    }

    static func run(_ r: SyncRun) -> String {
        var w = JSONWriter()
        write(r, into: &w)
        return w.text
    }
}
