import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// Teams and closed months (issue 20), on both stores: a team is a dimension of the summary and the event filters
/// through its projects, a project is in at most one team, and a closed month's events are never re-priced.
@Suite(.serialized) struct ReportStoreContractTests {
    func audit(_ org: String, _ action: String) -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "user:a@b.c", action: action, detail: "{}"
        )
    }

    func team(_ org: String, _ name: String, _ projects: [Project]) -> Team {
        Team(
            id: Identifier.make("team"), organizationID: org, name: name, projectIDs: projects.map(\.id).sorted(),
            createdAt: at("2026-12-01T10:00:00.123456Z"), updatedAt: at("2026-12-01T10:00:00.123456Z"))
    }

    @Test(arguments: StoreKind.available)
    func teamsGroupAndFilterTheSummaryThroughTheirProjects(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "Europe/Paris")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let api = try await store.createProject(organizationID: org.id, name: "api")
            let lab = try await store.createProject(organizationID: org.id, name: "lab")
            let growth = team(org.id, "Growth 🚀", [web, api])
            try await store.createTeam(growth, audit: audit(org.id, "team.create"))
            #expect(try await store.teams(organizationID: org.id) == [growth])
            #expect(try await store.team(organizationID: "org_other", id: growth.id) == nil)
            // A project is in at most one team: the database refuses a second.
            await #expect(throws: TallyError.self) {
                try await store.createTeam(team(org.id, "Other", [api]), audit: audit(org.id, "team.create"))
            }
            // Whole hours (the rollups) and a minute edge (raw events) both fold into teams.
            _ = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        stored("a", "2026-11-20T10:00:00Z", org: org.id, project: web, cost: USD(nanos: 100)),
                        stored("b", "2026-11-20T10:30:00Z", org: org.id, project: api, cost: USD(nanos: 20)),
                        stored("c", "2026-11-20T11:59:00Z", org: org.id, project: lab, cost: USD(nanos: 3)),
                    ])
            ])
            func summary(
                _ dims: [UsageDimension], _ filters: DimensionFilters = [:], to: String = "2026-11-21T00:00:00Z"
            )
                async throws -> SummaryResult
            {
                try await store.summary(
                    SummaryQuery(
                        organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at(to),
                        timeZone: TimeZoneRules(identifier: "Europe/Paris")!, grain: nil, dimensions: dims,
                        filters: filters))
            }
            for to in ["2026-11-21T00:00:00Z", "2026-11-20T11:59:30Z"] {
                let byTeam = try await summary([.team], to: to)
                #expect(byTeam.groups.map { $0.values[.team] ?? nil } == [growth.id, nil])
                #expect(byTeam.groups.map(\.metrics.cost) == [USD(nanos: 120), USD(nanos: 3)])
                #expect(byTeam.totals.cost == USD(nanos: 123))
            }
            let both = try await summary([.team, .project])
            #expect(both.groups.count == 3)
            #expect(
                Set(both.groups.map { [$0.values[.team] ?? nil, $0.values[.project] ?? nil] })
                    == [[growth.id, web.id], [growth.id, api.id], [nil, lab.id]])
            #expect(try await summary([], [.team: [growth.id]]).totals.cost == USD(nanos: 120))
            #expect(try await summary([], [.team: [Team.noTeam]]).totals.cost == USD(nanos: 3))
            #expect(try await summary([], [.team: [growth.id], .project: [api.id]]).totals.cost == USD(nanos: 20))
            let events = try await store.events(EventQuery(organizationID: org.id, filters: [.team: [Team.noTeam]]))
            #expect(events.events.map(\.event.id) == ["c"])

            // Moving a project moves its past usage; deleting the team leaves its projects in no team.
            var moved = growth
            moved.name = "Growth"
            moved.projectIDs = [web.id]
            try await store.updateTeam(moved, audit: audit(org.id, "team.update"))
            #expect(try await summary([], [.team: [Team.noTeam]]).totals.cost == USD(nanos: 23))
            try await store.deleteTeam(organizationID: org.id, id: growth.id, audit: audit(org.id, "team.delete"))
            #expect(try await store.teams(organizationID: org.id).isEmpty)
            #expect(try await summary([.team]).groups.map { $0.values[.team] ?? nil } == [nil])
            await #expect(throws: TallyError.notFound("team '\(growth.id)'")) {
                try await store.deleteTeam(organizationID: org.id, id: growth.id, audit: audit(org.id, "team.delete"))
            }
            #expect(try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).count == 3)
        }
    }

    @Test(arguments: StoreKind.available)
    func aClosedMonthKeepsItsEventsPricesUntilReopened(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let events = [
                stored("oct", "2026-10-31T23:59:59Z", org: org.id, project: web, cost: USD(nanos: 10)),
                stored("nov", "2026-11-15T12:00:00Z", org: org.id, project: web, cost: USD(nanos: 10)),
            ]
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            let november = ClosedPeriod(
                organizationID: org.id, month: "2026-11", number: ClosedPeriod.number(month: "2026-11", closing: 1),
                range: TimeRange(from: at("2026-11-01T00:00:00Z"), to: at("2026-12-01T00:00:00Z")),
                closedAt: at("2026-12-02T09:00:00Z"), closedBy: "ana@example.com", statements: #"{"project":{}}"#)
            #expect(try await store.closingCount(organizationID: org.id, month: "2026-11") == 0)
            // A re-pricing applied after the count was read: the snapshot may be stale, the closing refuses.
            await #expect(throws: TallyError.self) {
                try await store.closePeriod(november, closing: 1, repricings: -1, audit: audit(org.id, "period.close"))
            }
            #expect(try await store.closedPeriod(organizationID: org.id, month: "2026-11") == nil)
            let repricings = try await store.repricingCount(organizationID: org.id)
            try await store.closePeriod(
                november, closing: 1, repricings: repricings, audit: audit(org.id, "period.close"))
            #expect(november.number == "ST-202611-1")
            #expect(try await store.closedPeriod(organizationID: org.id, month: "2026-11") == november)
            #expect(try await store.closedPeriod(organizationID: "org_other", month: "2026-11") == nil)
            var listed = november
            listed.statements = ""
            #expect(try await store.closedPeriods(organizationID: org.id) == [listed])
            await #expect(throws: TallyError.conflict("2026-11 is already closed")) {
                try await store.closePeriod(
                    november, closing: 2, repricings: repricings, audit: audit(org.id, "period.close"))
            }

            func reprice(_ e: StoredEvent) -> RepricedEvent {
                RepricedEvent(stored: e, cost: USD(nanos: 99), priceID: "new")
            }
            // October is open: its event is re-priced. November is closed: nothing is changed, the month is named.
            try await store.applyRepricing([reprice(events[0])], audit: audit(org.id, "price.recompute"))
            await #expect(throws: TallyError.self) {
                try await store.applyRepricing([reprice(events[1])], audit: audit(org.id, "price.recompute"))
            }
            do {
                try await store.applyRepricing([reprice(events[1])], audit: audit(org.id, "price.recompute"))
            } catch TallyError.conflict(let message) {
                #expect(message.hasPrefix("2026-11 is closed"))
            }
            #expect(try await store.event(organizationID: org.id, id: "nov", projectIDs: nil)?.cost == USD(nanos: 10))

            try await store.reopenPeriod(
                organizationID: org.id, month: "2026-11", audit: audit(org.id, "period.reopen"))
            try await store.applyRepricing([reprice(events[1])], audit: audit(org.id, "price.recompute"))
            #expect(try await store.event(organizationID: org.id, id: "nov", projectIDs: nil)?.cost == USD(nanos: 99))
            await #expect(throws: TallyError.notFound("closed period '2026-11'")) {
                try await store.reopenPeriod(
                    organizationID: org.id, month: "2026-11", audit: audit(org.id, "period.reopen"))
            }
            // Closed again, it counts as the second closing.
            #expect(try await store.closingCount(organizationID: org.id, month: "2026-11") == 1)
        }
    }
}
