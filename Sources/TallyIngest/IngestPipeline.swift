import TallyCore

/// The one way events reach the store, whatever their source: decode (the API's JSON) or capture (the gateway builds
/// the event of a call) → `EventRules` → attribute (organization, project) → price → one `GroupCommitter`.
///
/// The API is all or nothing and answers once durable (`ingest`); a recording source (the gateway) never refuses the
/// call it records, so its event is admitted (`recordable`) and handed to a queue that commits through the same committer.
package struct IngestPipeline<Store: ProjectStore & EventStore>: Sendable {
    package let store: Store
    package let pricer: any Pricer
    package let committer: GroupCommitter

    package init(store: Store, pricer: any Pricer, committer: GroupCommitter) {
        self.store = store
        self.pricer = pricer
        self.committer = committer
    }

    /// `maxCommitsInFlight`: transactions run at once (1 for SQLite's single writer, a few for PostgreSQL).
    package init(store: Store, pricer: any Pricer, maxCommitsInFlight: Int = 1) {
        self.init(
            store: store, pricer: pricer,
            committer: GroupCommitter(maxInFlight: maxCommitsInFlight) { batches in try await store.insert(batches) })
    }

    /// A request's body: every event valid and attributed, or nothing stored. Returns once the events are committed.
    package func ingest(_ body: [UInt8], format: EventDecoder.Format, principal: Principal, now: Instant) async throws
        -> InsertOutcome
    {
        let events = try EventDecoder.decode(body, format: format, now: now)
        let stored = try await attribute(events, principal: principal, receivedAt: now)
        return try await committer.submit(EventBatch(organizationID: principal.organizationID, events: stored))
    }

    /// Resolves each event's project (the token's unless named; a session user must name one) and prices it.
    package func attribute(_ events: [UsageEvent], principal: Principal, receivedAt: Instant) async throws
        -> [StoredEvent]
    {
        let attributed = try await attributeEach(
            events, organizationID: principal.organizationID, token: principal.token, receivedAt: receivedAt)
        guard attributed.problems.isEmpty else { throw TallyError.invalid(attributed.problems) }
        return attributed.stored
    }

    /// Each event on its own: the ones attributed and priced, and a problem (with the event's index) for each of the
    /// others. Without a token (a session, `tally import`) every event must name its project.
    package func attributeEach(
        _ events: [UsageEvent], organizationID: String, token: APIToken?, receivedAt: Instant
    ) async throws -> (stored: [StoredEvent], problems: [FieldProblem]) {
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
            if let name = event.attribution.project, name != token?.projectName, name != token?.projectID {
                if let token, !token.allows(.admin) {
                    problems.append(
                        FieldProblem(
                            index: index, field: "project",
                            reason: "this token may only send events to project '\(token.projectName)'"))
                    continue
                }
                if projects[name] == nil {
                    // A name first, then an id (`project_id` may give either): a project named like another's id
                    // is the one meant.
                    var found = try await store.project(organizationID: organizationID, name: name)
                    if found == nil { found = try await store.project(organizationID: organizationID, id: name) }
                    projects[name] = .some(found)
                }
                guard let project = projects[name] ?? nil else {
                    problems.append(FieldProblem(index: index, field: "project", reason: "unknown project '\(name)'"))
                    continue
                }
                guard project.archivedAt == nil else {
                    problems.append(
                        FieldProblem(index: index, field: "project", reason: "project '\(name)' is archived"))
                    continue
                }
                projectID = project.id
                projectName = project.name
            } else if token == nil {
                problems.append(
                    FieldProblem(
                        index: index, field: "project",
                        reason: "is required when signed in rather than using a project token"))
                continue
            }
            event.attribution.project = projectName
            let quote = pricer.quote(event, organizationID: organizationID)
            stored.append(
                StoredEvent(
                    event: event, organizationID: organizationID, projectID: projectID,
                    projectName: projectName, receivedAt: receivedAt, cost: quote?.cost, priceID: quote?.priceID))
        }
        return (stored, problems)
    }

    /// A recorded call's event (the gateway's), charged to the token's project: admitted by `EventRules.admit` (what the
    /// rules refuse is left out and the event says so), then priced unless its usage is unknown (`usageKnown` false:
    /// the upstream said nothing) or was refused. `ownTags` are Tally's own (`provider_request_id`), added after the
    /// caller's tags are judged so that a refused caller tag does not take them with it.
    /// Throws `invalid` only for what admission cannot mend (an id, provider, model or timestamp the rules refuse):
    /// the source's own mistake, which it logs and counts rather than store.
    package func recordable(
        _ event: UsageEvent, token: APIToken, usageKnown: Bool, ownTags: [String: String] = [:],
        receivedAt: Instant
    ) throws(TallyError) -> StoredEvent {
        var event = event
        let admission = EventRules.admit(&event)
        for (name, value) in ownTags { event.attribution.tags[name] = value }
        let problems = EventRules.problems(in: event, now: receivedAt)
        guard problems.isEmpty else { throw .invalid(problems) }
        let quote =
            usageKnown && admission.refusedUsage == nil
            ? pricer.quote(event, organizationID: token.organizationID) : nil
        return StoredEvent(
            event: event, organizationID: token.organizationID, projectID: token.projectID,
            projectName: token.projectName, receivedAt: receivedAt, cost: quote?.cost, priceID: quote?.priceID)
    }
}
