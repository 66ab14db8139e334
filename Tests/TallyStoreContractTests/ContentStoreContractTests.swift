import TallyCore
import TallyServices
import TallyStoreSQL
import TallyTestSupport
import Testing

/// Issue 21 on both stores: captured bodies are written with their event (and only with a stored event), read back
/// sealed, refused and deleted after their retention; capture settings per project; safety filters' CRUD with
/// audits and names unique per organization; flags stored on events, filtered and counted.
@Suite(.serialized) struct ContentStoreContractTests {
    @Test(arguments: StoreKind.available)
    func capturedBodiesGoWithTheirEventAndExpire(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let vault = Vault(master: .generate())
            var e = stored("c1", "2026-11-20T10:00:00Z", org: org.id, project: web)
            let expires = Instant(microseconds: Instant.now.microseconds + 86_400_000_000)
            e.content = try vault.sealEventContent(
                request: Array("prompt MARKER-123".utf8), response: Array(repeating: 0x41, count: 300), limit: 256,
                mode: .full, expiresAt: expires, organizationID: org.id, projectID: web.id, eventID: "c1")
            _ = try await store.insert([EventBatch(organizationID: org.id, events: [e])])
            let sealed = try #require(
                try await store.eventContent(organizationID: org.id, projectID: web.id, eventID: "c1"))
            #expect(sealed.responseTruncated && !sealed.requestTruncated && sealed.mode == .full)
            // Sealed: the marker is not in the stored bytes, and it opens only with its own binding.
            #expect(!String(decoding: sealed.request ?? [], as: UTF8.self).contains("MARKER-123"))
            let opened = try vault.openContent(
                sealed.request!, keyID: sealed.keyID, organizationID: org.id, projectID: web.id, eventID: "c1",
                part: .request)
            #expect(String(decoding: opened, as: UTF8.self) == "prompt MARKER-123")
            #expect(
                (try? vault.openContent(
                    sealed.request!, keyID: sealed.keyID, organizationID: org.id, projectID: web.id, eventID: "c2",
                    part: .request)) == nil)
            #expect(
                (try? vault.openContent(
                    sealed.request!, keyID: sealed.keyID, organizationID: org.id, projectID: web.id, eventID: "c1",
                    part: .response)) == nil)
            // Cut at the limit: 256 bytes kept of 300.
            let response = try vault.openContent(
                sealed.response!, keyID: sealed.keyID, organizationID: org.id, projectID: web.id, eventID: "c1",
                part: .response)
            #expect(response.count == 256)
            // Another organization does not read it.
            #expect(try await store.eventContent(organizationID: "org_other", projectID: web.id, eventID: "c1") == nil)
            // A repeated event id stores neither a second event nor a second body.
            var again = e
            again.content?.request = nil
            let outcome = try await store.insert([EventBatch(organizationID: org.id, events: [again])])
            #expect(outcome.first?.duplicates == 1)
            #expect(
                try await store.eventContent(organizationID: org.id, projectID: web.id, eventID: "c1")?.request != nil)
            // After the retention the row is gone.
            #expect(try await store.deleteExpiredContent(now: .now) == 0)
            #expect(try await store.deleteExpiredContent(now: Instant(microseconds: expires.microseconds + 1)) == 1)
            #expect(try await store.eventContent(organizationID: org.id, projectID: web.id, eventID: "c1") == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func captureSettingsArePerProjectAndOffByDefault(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let api = try await store.createProject(organizationID: org.id, name: "api")
            #expect(web.content == .off)
            try await store.setContentSettings(
                organizationID: org.id, projectID: web.id, ContentSettings(capture: .redacted, retentionDays: 7))
            let settings = try await store.contentSettings(organizationID: org.id)
            #expect(settings[web.id] == ContentSettings(capture: .redacted, retentionDays: 7))
            #expect(settings[api.id] == .off)
            #expect(try await store.project(organizationID: org.id, id: web.id)?.content.capture == .redacted)
            await #expect(throws: TallyError.self) {
                try await store.setContentSettings(organizationID: "org_other", projectID: web.id, .off)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func safetyFiltersAreAuditedAndNamedOncePerOrganization(kind: StoreKind) async throws {
        try await kind.withStore { store in try await checkFilters(store) }
    }

    /// Generic, so the service gets the concrete store (an existential cannot stand for its protocols).
    func checkFilters(_ store: some TallyStore) async throws {
        do {
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let service = SafetyFilterService(store: store)
            let created = try await service.create(
                [
                    "name": .string("pii"), "detectors": .array([.string("email"), .string("credit_card")]),
                    "keywords": .array([.string("Project Zeus")]), "regex": .array([.string("ACME-[0-9]{4}")]),
                    "on": .string("both"), "action": .string("redact"),
                ], organizationID: org.id, actor: "test")
            #expect(created.detectors == ["email", "credit_card"] && created.patterns == ["ACME-[0-9]{4}"])
            await #expect(throws: TallyError.self) {
                _ = try await service.create(
                    [
                        "name": .string("pii"), "detectors": .array([.string("email")]), "on": .string("request"),
                        "action": .string("flag"),
                    ], organizationID: org.id, actor: "test")
            }
            // Every problem at once, each naming its field; a hostile pattern is refused by the engine's rules.
            do {
                _ = try await service.create(
                    [
                        "name": .string("bad,name"), "detectors": .array([.string("dna")]),
                        "regex": .array([.string("(a)\\1")]), "on": .string("sideways"), "action": .string("nuke"),
                    ], organizationID: org.id, actor: "test")
                Issue.record("a bad filter was accepted")
            } catch TallyError.invalid(let problems) {
                #expect(Set(problems.map(\.field)) == ["name", "detectors[0]", "regex[0]", "on", "action"])
            }
            let updated = try await service.update(
                created.id, ["action": .string("block")], organizationID: org.id, actor: "test")
            #expect(updated.action == "block" && updated.name == "pii")
            #expect(try await store.safetyFilters(organizationID: org.id).map(\.action) == ["block"])
            await #expect(throws: TallyError.self) {
                _ = try await service.find(created.id, organizationID: "org_other")
            }
            try await service.delete(created.id, organizationID: org.id, actor: "test")
            #expect(try await store.safetyFilters(organizationID: org.id).isEmpty)
            let actions = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).map(\.action)
            #expect(actions.contains("safety_filter.create") && actions.contains("safety_filter.delete"))
        }
    }

    @Test(arguments: StoreKind.available)
    func flagsAreStoredFilteredAndCounted(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            var events: [StoredEvent] = []
            for i in 0..<10 {
                var e = stored(
                    "f\(i)", "2026-11-20T10:0\(i):00Z", org: org.id, project: web, feature: i < 6 ? "chat" : "search",
                    cost: USD(nanos: 1000))
                if i < 3 { e.event.outcome.qualityFlags = ["truncated"] }
                if i == 0 { e.event.outcome.safetyFlags = ["pii.email", "keyword:50%_off"] }
                events.append(e)
            }
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            let page = try await store.events(EventQuery(organizationID: org.id, limit: 100, flags: ["truncated"]))
            #expect(Set(page.events.map(\.event.id)) == ["f0", "f1", "f2"])
            #expect(
                page.events.first { $0.event.id == "f0" }?.event.outcome.safetyFlags == [
                    "pii.email", "keyword:50%_off",
                ])
            // LIKE's own characters in a flag match only themselves.
            let literal = try await store.events(EventQuery(organizationID: org.id, flags: ["keyword:50%_off"]))
            #expect(literal.events.map(\.event.id) == ["f0"])
            #expect(try await store.events(EventQuery(organizationID: org.id, flags: ["keyword:50%"])).events.isEmpty)
            let counts = try await store.flagCounts(
                FlagQuery(
                    organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                    filters: [:], byFeature: true))
            let truncated = counts.flags.first { $0.flag == "truncated" }
            #expect(truncated?.requests == 3 && truncated?.feature == "chat" && truncated?.kind == "quality")
            #expect(truncated?.cost == USD(nanos: 3000))
            #expect(counts.requests["chat"] == 6 && counts.requests["search"] == 4)
            let whole = try await store.flagCounts(
                FlagQuery(
                    organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                    filters: [:], byFeature: false))
            #expect(Set(whole.flags.map(\.flag)) == ["truncated", "pii.email", "keyword:50%_off"])
            #expect(whole.requests[""] == 10)
        }
    }
}
