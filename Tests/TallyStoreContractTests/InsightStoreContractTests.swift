import TallyCore
import TallyPrice
import TallyServices
import TallyTestSupport
import Testing

/// Insights on real stores (SQLite and PostgreSQL): the lifecycle of one computation after another (new, still
/// seen, dismissed stays dismissed, resolved, seen again), isolation between organizations, the settings, the
/// weekly digest's opt-in and once-per-week claim, and the service computing from ingested events.
@Suite(.serialized) struct InsightStoreContractTests {
    func audit(_ org: String, _ action: String = "test") -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "test", action: action, detail: "{}")
    }

    func insight(_ org: String, _ key: String, title: String = "t", at time: String) -> Insight {
        Insight(
            id: InsightEngine.id(organizationID: org, key: key), organizationID: org,
            finding: InsightFinding(
                kind: .errorSpend, key: key, title: title, detail: "d <b>&",
                evidence: [
                    InsightFigure("cost_usd", .usd(USD(decimal: "12.345")!)), InsightFigure("requests", .count(3)),
                    InsightFigure("share_percent", .percent("12.5")), InsightFigure("model", .text("gpt-4o")),
                ], estimatedMonthlySavings: key == "a" ? USD(decimal: "1.50") : nil, explorerURL: "/usage?x=1"),
            status: .new, firstSeen: at(time), lastSeen: at(time))
    }

    @Test(arguments: StoreKind.available)
    func computationsKeepDismissalsAndResolveWhatIsGone(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC").id
            let t1 = "2026-11-01T00:00:00Z", t2 = "2026-11-02T00:00:00Z", t3 = "2026-11-03T00:00:00Z"
            try await store.recordInsights(
                organizationID: org, findings: [insight(org, "a", at: t1), insight(org, "b", at: t1)], at: at(t1))
            var all = try await store.insights(organizationID: org, status: nil)
            #expect(Set(all.map(\.finding.key)) == ["a", "b"])
            #expect(all.allSatisfy { $0.status == .new })
            let a = try #require(all.first { $0.finding.key == "a" })
            #expect(a == insight(org, "a", at: t1))
            #expect(try await store.insightsComputedAt(organizationID: org) == at(t1))

            let dismissed = try await store.dismissInsight(organizationID: org, id: a.id, audit: audit(org))
            #expect(dismissed.status == .dismissed)

            // Seen again with fresh figures: still dismissed, last_seen moves, first_seen stays; c is new.
            try await store.recordInsights(
                organizationID: org,
                findings: [
                    insight(org, "a", title: "fresh", at: t2), insight(org, "b", at: t2), insight(org, "c", at: t2),
                ],
                at: at(t2))
            all = try await store.insights(organizationID: org, status: nil)
            let a2 = try #require(all.first { $0.finding.key == "a" })
            #expect(a2.status == .dismissed && a2.finding.title == "fresh")
            #expect(a2.firstSeen == at(t1) && a2.lastSeen == at(t2))
            #expect(
                try await store.insights(organizationID: org, status: .new).map(\.finding.key).sorted() == ["b", "c"])

            // Only c found: a and b resolved. Then b found again: new again.
            try await store.recordInsights(organizationID: org, findings: [insight(org, "c", at: t3)], at: at(t3))
            #expect(
                try await store.insights(organizationID: org, status: .resolved).map(\.finding.key).sorted() == [
                    "a", "b",
                ])
            try await store.recordInsights(
                organizationID: org, findings: [insight(org, "b", at: "2026-11-04T00:00:00Z")],
                at: at("2026-11-04T00:00:00Z"))
            #expect(try await store.insights(organizationID: org, status: .new).map(\.finding.key) == ["b"])
            // Nothing found at all: everything resolved.
            try await store.recordInsights(organizationID: org, findings: [], at: at("2026-11-05T00:00:00Z"))
            #expect(try await store.insights(organizationID: org, status: .resolved).count == 3)
        }
    }

    @Test(arguments: StoreKind.available)
    func anotherOrganizationsInsightIsNotFound(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC").id
            try await store.createOrganization(
                Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now))
            let theirs = insight("org_other", "a", at: "2026-11-01T00:00:00Z")
            try await store.recordInsights(organizationID: "org_other", findings: [theirs], at: theirs.lastSeen)
            #expect(try await store.insights(organizationID: org, status: nil).isEmpty)
            await #expect(throws: TallyError.notFound("insight '\(theirs.id)'")) {
                try await store.dismissInsight(organizationID: org, id: theirs.id, audit: audit(org))
            }
            #expect(try await store.insights(organizationID: "org_other", status: nil).first?.status == .new)
            // Deleting the organization deletes its insights with it.
            try await store.deleteOrganization(id: "org_other")
            #expect(try await store.insights(organizationID: "org_other", status: nil).isEmpty)
        }
    }

    @Test(arguments: StoreKind.available)
    func settingsAndTheWeeklyDigest(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC").id
            #expect(try await store.insightSettings(organizationID: org) == InsightSettings())
            var settings = InsightSettings()
            settings.growthPercent = 75
            settings.batchFeatures = ["nightly <report>"]
            try await store.saveInsightSettings(organizationID: org, settings, audit: audit(org))
            #expect(try await store.insightSettings(organizationID: org) == settings)
            // A computation keeps the settings.
            try await store.recordInsights(organizationID: org, findings: [], at: at("2026-11-01T00:00:00Z"))
            #expect(try await store.insightSettings(organizationID: org) == settings)

            let mail = AlertChannel(
                id: Identifier.make("ch"), organizationID: org, name: "Finance", kind: .email,
                targets: ["f@example.com"], sealedSecret: nil, createdAt: .now, updatedAt: .now)
            try await store.createAlertChannel(mail, audit: audit(org))
            #expect(try await store.weeklyDigestChannelIDs(organizationID: org).isEmpty)
            try await store.setWeeklyDigest(organizationID: org, channelID: mail.id, enabled: true)
            #expect(try await store.weeklyDigestChannelIDs(organizationID: org) == [mail.id])
            await #expect(throws: TallyError.self) {
                try await store.setWeeklyDigest(organizationID: "org_nope", channelID: mail.id, enabled: true)
            }
            let week = CivilDate(year: 2026, month: 11, day: 30)
            #expect(try await store.claimWeeklyDigest(organizationID: org, channelID: mail.id, week: week, at: .now))
            #expect(!(try await store.claimWeeklyDigest(organizationID: org, channelID: mail.id, week: week, at: .now)))
            #expect(
                try await store.claimWeeklyDigest(
                    organizationID: org, channelID: mail.id, week: week.addingDays(7), at: .now))
            try await store.releaseWeeklyDigest(organizationID: org, channelID: mail.id, week: week)
            #expect(try await store.claimWeeklyDigest(organizationID: org, channelID: mail.id, week: week, at: .now))
        }
    }

    /// The service over ingested events: short gpt-4o requests get the cheaper-model insight with the saving priced
    /// by the built-in catalog, failed requests the error spend, and a second computation the same insights.
    @Test(arguments: StoreKind.available)
    func theServiceComputesFromTheRollups(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.serviceComputes(store) }
    }

    static func serviceComputes<S: TallyStore>(_ store: S) async throws {
        do {
            let org = try await store.defaultOrganization(timeZone: "UTC").id
            let web = try await store.createProject(organizationID: org, name: "web")
            var events: [StoredEvent] = []
            for day in 1...20 {
                let time = "2026-11-\(day < 10 ? "0" : "")\(day)T10:00:00Z"
                var e = stored("ok-\(day)", time, org: org, project: web, feature: "tagging", cost: USD(decimal: "2"))
                e.event.usage.requests = 1000
                e.event.usage.inputTokens = 300_000
                e.event.usage.outputTokens = 50_000
                events.append(e)
                events.append(
                    stored(
                        "err-\(day)", time, org: org, project: web, model: "o3", feature: "agent", status: .error,
                        cost: USD(decimal: "1")))
            }
            _ = try await store.insert([EventBatch(organizationID: org, events: events)])
            let pricer = CatalogPricer()
            let service = InsightService(store: store, pricer: pricer)
            let now = at("2026-11-27T12:00:00Z")
            let findings = try await service.compute(organizationID: org, at: now)
            let keys = findings.map(\.key)
            #expect(keys.contains("error_spend"))
            let errors = try #require(findings.first { $0.key == "error_spend" })
            #expect(errors.estimatedMonthlySavings == USD(decimal: "20"))
            #expect(errors.title == "$20.00 of the last 30 days' cost went to failed requests (33.3% of $60.00)")

            let expensive = try #require(
                findings.first { $0.key == "expensive_model_for_simple_tasks:feature:tagging:openai:gpt-4o" })
            let cheaper = try #require(
                expensive.evidence.first { $0.name == "cheaper_model" }.flatMap {
                    if case .text(let t) = $0.value { t } else { nil }
                })
            var usage = TokenUsage()
            usage.requests = 20_000
            usage.inputTokens = 6_000_000
            usage.outputTokens = 1_000_000
            func price(_ model: String) -> USD? {
                pricer.quote(
                    UsageEvent(id: "x", timestamp: now, provider: "openai", model: model, usage: usage),
                    organizationID: org, longContext: false)?.cost
            }
            let current = try #require(price("gpt-4o"))
            // gpt-4o at $2.50 / $10 per million: 6M in + 1M out = $15 + $10 = $25.
            #expect(current == USD(decimal: "25"))
            let alternative = try #require(price(cheaper))
            #expect(alternative.nanos * 3 <= current.nanos)
            #expect(expensive.estimatedMonthlySavings == current - alternative)

            let stored = try await store.insights(organizationID: org, status: nil)
            #expect(Set(stored.map(\.finding.key)) == Set(keys))
            #expect(try await service.compute(organizationID: org, at: now) == findings)
            #expect(try await store.insights(organizationID: org, status: nil) == stored)
        }
    }
}
