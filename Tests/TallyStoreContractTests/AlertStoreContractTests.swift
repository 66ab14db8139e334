import TallyCore
import TallyTestSupport
import Testing

@testable import TallyServices

/// Alerts, the delivery outbox and alert channels: one contract, both stores.
@Suite(.serialized) struct AlertStoreContractTests {
    func audit(_ org: String, _ action: String = "alert_channel.create") -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "test", action: action, detail: "{}")
    }

    func channel(_ org: String, _ kind: AlertChannelKind = .email, name: String = "Team") -> AlertChannel {
        AlertChannel(
            id: Identifier.make("ch"), organizationID: org, name: name, kind: kind, targets: ["a@example.com"],
            sealedSecret: kind == .email ? nil : "k1:c2VhbGVk", createdAt: at("2026-12-01T10:00:00Z"),
            updatedAt: at("2026-12-01T10:00:00Z"))
    }

    func alert(_ org: String, key: String, firedAt: String = "2026-12-02T10:00:00Z", type: AlertType = .budgetThreshold)
        -> Alert
    {
        Alert(
            id: Identifier.make("al"), organizationID: org, type: type, dedupeKey: key, firedAt: at(firedAt),
            budgetID: type == .budgetThreshold ? "bud_1" : nil, rule: type == .budgetThreshold ? nil : type.rawValue,
            scope: [.project: ["prj_1"], .model: ["gpt-4o", "o3"]],
            figures: AlertFigures(
                periodStart: at("2026-12-01T05:00:00Z"), periodEnd: at("2027-01-01T05:00:00Z"),
                spent: USD(decimal: "226.13"), amount: USD(decimal: "250.00"), percent: "90.45", threshold: 90,
                summary: "Budget '<b>Search</b>' passed 90% \"quoted\""))
    }

    func delivery(_ a: Alert, channel: String, due: Instant? = nil) -> AlertDelivery {
        AlertDelivery(
            id: Identifier.make("dl"), organizationID: a.organizationID, alertID: a.id, channelID: channel,
            nextAttemptAt: due ?? a.firedAt, createdAt: a.firedAt)
    }

    /// An alert is kept exactly, with its deliveries; the same key again records nothing and answers false.
    @Test(arguments: StoreKind.available)
    func anAlertIsRecordedOncePerKey(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let first = alert(org.id, key: "budget:bud_1:1764565200000000:90")
            #expect(try await store.recordAlert(first, deliveries: [delivery(first, channel: "ch_a")]))
            #expect(try await store.alert(organizationID: org.id, id: first.id) == first)
            let again = alert(org.id, key: first.dedupeKey)
            #expect(!(try await store.recordAlert(again, deliveries: [delivery(again, channel: "ch_a")])))
            #expect(try await store.alert(organizationID: org.id, id: again.id) == nil)
            #expect(try await store.deliveries(organizationID: org.id, alertID: again.id).isEmpty)
            #expect(try await store.deliveries(organizationID: org.id, alertID: first.id).count == 1)

            // Another organization may have the same key; it does not see this one's alert.
            try await store.createOrganization(Organization(id: "org_b", name: "B", timeZone: "UTC", createdAt: .now))
            let theirs = alert("org_b", key: first.dedupeKey)
            #expect(try await store.recordAlert(theirs, deliveries: []))
            #expect(try await store.alert(organizationID: "org_b", id: first.id) == nil)
            #expect(try await store.deliveries(organizationID: "org_b", alertID: first.id).isEmpty)

            let fired = try await store.firedAlerts(
                organizationID: org.id, keys: [first.dedupeKey, "budget:bud_1:1764565200000000:100"])
            #expect(fired == [first.dedupeKey: first.firedAt])
            #expect(try await store.firedAlerts(organizationID: org.id, keys: []) == [:])
        }
    }

    /// Two replicas recording the same key at once: exactly one records it, with its deliveries.
    @Test(arguments: StoreKind.available)
    func concurrentRecordsOfOneKeyRecordOne(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            for round in 0..<5 {
                let key = "spike:project:prj_1:2026-12-0\(round + 1)"
                let candidates = (0..<4).map { _ in alert(org.id, key: key) }
                let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for a in candidates {
                        group.addTask {
                            try await store.recordAlert(
                                a, deliveries: [delivery(a, channel: "ch_a"), delivery(a, channel: "ch_b")])
                        }
                    }
                    return try await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                #expect(results.filter { $0 }.count == 1)
                var deliveries = 0
                for a in candidates {
                    deliveries += try await store.deliveries(organizationID: org.id, alertID: a.id).count
                }
                #expect(deliveries == 2)
            }
        }
    }

    /// Filters, newest first, and a keyset cursor that neither skips nor repeats alerts sharing a microsecond.
    @Test(arguments: StoreKind.available)
    func alertsAreListedNewestFirstWithFilters(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            var recorded: [Alert] = []
            for (i, time) in [
                "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-02T00:00:00Z",
                "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z",
            ].enumerated() {
                let a = alert(org.id, key: "k\(i)", firedAt: time, type: i % 2 == 0 ? .budgetThreshold : .spike)
                #expect(try await store.recordAlert(a, deliveries: []))
                recorded.append(a)
            }
            let newestFirst = recorded.sorted { ($0.firedAt, $0.id) > ($1.firedAt, $1.id) }
            var paged: [Alert] = []
            var cursor: String?
            repeat {
                let page = try await store.alerts(AlertQuery(organizationID: org.id, limit: 2, after: cursor))
                paged += page
                cursor = page.count == 2 ? page.last?.id : nil
            } while cursor != nil
            #expect(paged.map(\.id) == newestFirst.map(\.id))

            let spikes = try await store.alerts(AlertQuery(organizationID: org.id, type: .spike))
            #expect(spikes.map(\.id) == newestFirst.filter { $0.type == .spike }.map(\.id))
            let window = try await store.alerts(
                AlertQuery(organizationID: org.id, from: at("2026-12-02T00:00:00Z"), to: at("2026-12-04T00:00:00Z")))
            #expect(window.count == 3)
            #expect(try await store.alerts(AlertQuery(organizationID: org.id, after: "al_unknown")).isEmpty)
            #expect(try await store.alerts(AlertQuery(organizationID: "org_none")).isEmpty)

            // Acknowledged with who and when, audited; another organization's id is not found.
            let target = recorded[0]
            try await store.updateAlertStatus(
                organizationID: org.id, id: target.id, status: .acknowledged, by: "usr_1",
                at: at("2026-12-05T00:00:00Z"), audit: audit(org.id, "alert.acknowledge"))
            let acknowledged = try #require(try await store.alert(organizationID: org.id, id: target.id))
            #expect(acknowledged.status == .acknowledged && acknowledged.acknowledgedBy == "usr_1")
            #expect(acknowledged.acknowledgedAt == at("2026-12-05T00:00:00Z"))
            #expect(
                try await store.alerts(AlertQuery(organizationID: org.id, status: .acknowledged)).map(\.id)
                    == [target.id])
            await #expect(throws: TallyError.notFound("alert '\(target.id)'")) {
                try await store.updateAlertStatus(
                    organizationID: "org_other", id: target.id, status: .resolved, by: nil, at: .now,
                    audit: audit("org_other", "alert.resolve"))
            }
            let audits = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(audits.map(\.action) == ["alert.acknowledge"])

            // Deleted with its deliveries, so its key can fire again.
            try await store.deleteAlert(organizationID: org.id, id: target.id)
            #expect(try await store.firedAlerts(organizationID: org.id, keys: [target.dedupeKey]).isEmpty)
            await #expect(throws: TallyError.notFound("alert '\(target.id)'")) {
                try await store.deleteAlert(organizationID: org.id, id: target.id)
            }
        }
    }

    /// A claim takes due, unclaimed deliveries; a finished one is released with its result; an expired claim is
    /// taken again; another holder cannot finish what it does not hold.
    @Test(arguments: StoreKind.available)
    func deliveriesAreClaimedAndFinished(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let a = alert(org.id, key: "k")
            let now = at("2026-12-02T10:00:00Z")
            let due = delivery(a, channel: "ch_a", due: now)
            let later = delivery(a, channel: "ch_b", due: now.adding(seconds: 60))
            #expect(try await store.recordAlert(a, deliveries: [due, later]))

            let claimed = try await store.claimDueDeliveries(
                holder: "r1", now: now, until: now.adding(seconds: 30), limit: 10)
            #expect(claimed == [due])
            #expect(
                try await store.claimDueDeliveries(holder: "r2", now: now, until: now.adding(seconds: 30), limit: 10)
                    .isEmpty)
            // The claim expired: another replica takes it.
            let expired = now.adding(seconds: 31)
            let retaken = try await store.claimDueDeliveries(
                holder: "r2", now: expired, until: expired.adding(seconds: 30), limit: 10)
            #expect(retaken == [due])
            var result = due
            result.attempts = 1
            result.lastError = "HTTP 500"
            result.nextAttemptAt = expired.adding(seconds: 120)
            await #expect(throws: TallyError.self) { try await store.finishDelivery(result, holder: "r1") }
            try await store.finishDelivery(result, holder: "r2")
            #expect(
                try await store.deliveries(organizationID: org.id, alertID: a.id).first { $0.id == due.id } == result)

            // At expired + 120 s both are due; a delivered one is never claimed again.
            let then = expired.adding(seconds: 120)
            let both = try await store.claimDueDeliveries(
                holder: "r1", now: then, until: then.adding(seconds: 30), limit: 10)
            #expect(Set(both.map(\.id)) == [due.id, later.id])
            for var d in both {
                d.status = .delivered
                d.attempts += 1
                d.lastError = nil
                d.deliveredAt = then
                try await store.finishDelivery(d, holder: "r1")
            }
            #expect(
                try await store.claimDueDeliveries(
                    holder: "r1", now: then.adding(seconds: 3600), until: then.adding(seconds: 3700), limit: 10
                ).isEmpty)
            let log = try await store.deliveries(organizationID: org.id, alertID: a.id)
            #expect(log.allSatisfy { $0.status == .delivered && $0.deliveredAt == then })
        }
    }

    /// Two replicas claiming at once take disjoint sets, and together all of the due deliveries.
    @Test(arguments: StoreKind.available)
    func concurrentClaimsAreDisjoint(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let now = at("2026-12-02T10:00:00Z")
            var all: Set<String> = []
            for i in 0..<8 {
                let a = alert(org.id, key: "k\(i)")
                let ds = (0..<5).map { delivery(a, channel: "ch_\($0)", due: now) }
                all.formUnion(ds.map(\.id))
                #expect(try await store.recordAlert(a, deliveries: ds))
            }
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for holder in ["r1", "r2", "r3", "r4"] {
                    group.addTask {
                        try await store.claimDueDeliveries(
                            holder: holder, now: now, until: now.adding(seconds: 30), limit: 15
                        ).map(\.id)
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            let flat = claims.flatMap { $0 }
            #expect(flat.count == Set(flat).count)
            #expect(Set(flat).isSubset(of: all))
            #expect(flat.count == all.count)
        }
    }

    /// Channels: created and changed with audit records, isolated per organization; deleting one fails its
    /// pending deliveries with "channel deleted" and leaves delivered ones alone.
    @Test(arguments: StoreKind.available)
    func channelsAndTheirDeletion(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            var hook = channel(org.id, .webhook, name: "Hook <script>")
            hook.targets = ["https://hooks.example.com/a?b=c"]
            var mail = channel(org.id, .email)
            mail.createdAt = mail.createdAt.adding(seconds: 1)
            try await store.createAlertChannel(hook, audit: audit(org.id))
            try await store.createAlertChannel(mail, audit: audit(org.id))
            #expect(try await store.alertChannels(organizationID: org.id) == [hook, mail])
            #expect(try await store.alertChannel(organizationID: org.id, id: hook.id) == hook)
            #expect(try await store.alertChannel(organizationID: "org_other", id: hook.id) == nil)
            #expect(try await store.alertChannels(organizationID: "org_other").isEmpty)

            var renamed = hook
            renamed.name = "Renamed"
            renamed.sealedSecret = nil
            renamed.updatedAt = at("2026-12-03T00:00:00Z")
            try await store.updateAlertChannel(renamed, audit: audit(org.id, "alert_channel.update"))
            #expect(try await store.alertChannel(organizationID: org.id, id: hook.id) == renamed)
            var foreign = renamed
            foreign.organizationID = "org_other"
            await #expect(throws: TallyError.notFound("alert channel '\(hook.id)'")) {
                try await store.updateAlertChannel(foreign, audit: audit(org.id, "alert_channel.update"))
            }

            let a = alert(org.id, key: "k")
            let pending = delivery(a, channel: hook.id), toMail = delivery(a, channel: mail.id)
            var done = delivery(a, channel: hook.id)
            done.status = .delivered
            #expect(try await store.recordAlert(a, deliveries: [pending, done, toMail]))
            await #expect(throws: TallyError.notFound("alert channel '\(hook.id)'")) {
                try await store.deleteAlertChannel(
                    organizationID: "org_other", id: hook.id, audit: audit(org.id, "alert_channel.delete"))
            }
            try await store.deleteAlertChannel(
                organizationID: org.id, id: hook.id, audit: audit(org.id, "alert_channel.delete"))
            #expect(try await store.alertChannels(organizationID: org.id) == [mail])
            let log = Dictionary(
                uniqueKeysWithValues: try await store.deliveries(organizationID: org.id, alertID: a.id).map {
                    ($0.id, $0)
                })
            #expect(log[pending.id]?.status == .failed && log[pending.id]?.lastError == "channel deleted")
            #expect(log[done.id]?.status == .delivered && log[done.id]?.lastError == nil)
            #expect(log[toMail.id]?.status == .pending)
            let actions = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).map(\.action)
            #expect(
                actions.sorted() == [
                    "alert_channel.create", "alert_channel.create", "alert_channel.delete", "alert_channel.update",
                ])
        }
    }

    /// A deleted channel leaves the rules' and the budgets' channel lists (first, middle, last and only entry) in the
    /// delete's transaction; other organizations' lists are untouched.
    @Test(arguments: StoreKind.available)
    func aDeletedChannelLeavesRulesAndBudgets(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let gone = channel(org.id), kept = channel(org.id, name: "Kept"), other = channel(org.id, name: "Other")
            for c in [gone, kept, other] { try await store.createAlertChannel(c, audit: audit(org.id)) }
            var rules = AlertRules()
            rules.channelIDs = [kept.id, gone.id, other.id]
            try await store.saveAlertRules(organizationID: org.id, rules, audit: audit(org.id, "alert_rules.update"))
            try await store.createOrganization(Organization(id: "org_b", name: "B", timeZone: "UTC", createdAt: .now))
            try await store.saveAlertRules(organizationID: "org_b", rules, audit: audit("org_b", "alert_rules.update"))
            let lists = [[gone.id, kept.id], [kept.id, gone.id], [gone.id], [kept.id, gone.id, other.id], [kept.id]]
            var budgets: [Budget] = []
            for (i, ids) in lists.enumerated() {
                let b = Budget(
                    id: Identifier.make("bud"), organizationID: org.id, name: "B\(i)", scope: [:], period: .month,
                    amount: USD(nanos: 10_000_000_000), channelIDs: ids, createdAt: .now, updatedAt: .now)
                try await store.createBudget(b, audit: audit(org.id, "budget.create"))
                budgets.append(b)
            }
            try await store.deleteAlertChannel(organizationID: org.id, id: gone.id, audit: audit(org.id, "x"))

            #expect(try await store.alertRules(organizationID: org.id).channelIDs == [kept.id, other.id])
            #expect(try await store.alertRules(organizationID: "org_b").channelIDs == [kept.id, gone.id, other.id])
            var left: [[String]] = []
            for b in budgets { left.append(try await store.budget(organizationID: org.id, id: b.id)?.channelIDs ?? []) }
            #expect(left == [[kept.id], [kept.id], [], [kept.id, other.id], [kept.id]])
        }
    }

    /// An organization's deletion takes its alerts, deliveries and channels with it.
    @Test(arguments: StoreKind.available)
    func alertsGoWithTheirOrganization(kind: StoreKind) async throws {
        try await kind.withStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            try await store.createOrganization(Organization(id: "org_b", name: "B", timeZone: "UTC", createdAt: .now))
            let ch = channel("org_b")
            try await store.createAlertChannel(ch, audit: audit("org_b"))
            let a = alert("org_b", key: "k")
            #expect(try await store.recordAlert(a, deliveries: [delivery(a, channel: ch.id)]))
            try await store.deleteOrganization(id: "org_b")
            #expect(try await store.alertChannels(organizationID: "org_b").isEmpty)
            #expect(try await store.alerts(AlertQuery(organizationID: "org_b")).isEmpty)
            #expect(try await store.deliveries(organizationID: "org_b", alertID: a.id).isEmpty)
        }
    }

    /// A master key rotation re-seals the channels' secrets with the connections' keys, all or nothing; channels
    /// without a secret are left alone.
    @Test(arguments: StoreKind.available)
    func channelSecretsRotateWithTheMasterKey(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let (old, new) = (Vault(master: .generate()), Vault(master: .generate()))
            var hook = channel(org.id, .slack)
            hook.sealedSecret = try old.sealChannelSecret(
                "https://hooks.slack.com/services/T/B/S", organizationID: org.id, channelID: hook.id)
            try await store.createAlertChannel(hook, audit: audit(org.id))
            try await store.createAlertChannel(channel(org.id, .email), audit: audit(org.id))
            #expect(try await Vault.rotate(store: store, from: old, to: new) == 1)
            let sealed = try #require(try await store.alertChannel(organizationID: org.id, id: hook.id)?.sealedSecret)
            #expect(
                try new.openChannelSecret(sealed, organizationID: org.id, channelID: hook.id)
                    == "https://hooks.slack.com/services/T/B/S")
            #expect(throws: Vault.Failure.self) {
                try old.openChannelSecret(sealed, organizationID: org.id, channelID: hook.id)
            }
            // A stale rotation (the secret changed meanwhile) changes nothing.
            let stale = try #require(try await store.sealedSecrets().first { $0.field == .alertChannel })
            hook.sealedSecret = try new.sealChannelSecret(
                "https://x.example/y", organizationID: org.id, channelID: hook.id)
            try await store.updateAlertChannel(hook, audit: audit(org.id, "alert_channel.update"))
            await #expect(throws: TallyError.self) {
                try await store.replaceSealedSecrets([
                    (stale, try old.seal("z", organizationID: org.id, connectionID: hook.id, field: .alertChannel))
                ])
            }
            #expect(
                try await store.alertChannel(organizationID: org.id, id: hook.id)?.sealedSecret == hook.sealedSecret)
        }
    }
}
