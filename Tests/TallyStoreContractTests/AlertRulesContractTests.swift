import TallyCore
import TallyTestSupport
import Testing

/// The alert rules half of the store contract, on both stores: defaults until saved, saved whole with their audit
/// record, one organization's rules never another's.
@Suite(.serialized) struct AlertRulesContractTests {
    @Test(arguments: StoreKind.available)
    func rulesAreDefaultUntilSavedAndSavedWhole(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            #expect(try await store.alertRules(organizationID: org.id) == AlertRules())
            var rules = AlertRules()
            rules.spike = .init(enabled: false, thresholdPercent: 250, floor: USD(decimal: "12.345678901")!)
            rules.unpricedModel.enabled = false
            rules.channelIDs = ["ch_a", "ch_b"]
            rules.mutedUntil = ["spike": at("2026-12-31T23:59:59.123456Z")]
            try await store.saveAlertRules(
                organizationID: org.id, rules,
                audit: .make(organizationID: org.id, actor: "user:a@b.c", action: "alert_rules.update"))
            #expect(try await store.alertRules(organizationID: org.id) == rules)
            // Saving again replaces the row (no second row, no conflict).
            rules.mutedUntil = [:]
            rules.providerConnection.enabled = false
            try await store.saveAlertRules(
                organizationID: org.id, rules,
                audit: .make(organizationID: org.id, actor: "user:a@b.c", action: "alert_rules.update"))
            #expect(try await store.alertRules(organizationID: org.id) == rules)
            #expect(try await store.alertRules(organizationID: "org_elsewhere") == AlertRules())
            let audits = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(audits.filter { $0.action == "alert_rules.update" }.count == 2)
        }
    }

    /// The rules and their audit record are one transaction: an audit record that cannot be written (its id taken)
    /// leaves the rules as they were.
    @Test(arguments: StoreKind.available)
    func rulesAndAuditAreOneTransaction(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let audit = AuditRecord.make(organizationID: org.id, actor: "t", action: "alert_rules.update")
            try await store.recordAudit(audit)
            var rules = AlertRules()
            rules.spike.enabled = false
            await #expect(throws: (any Error).self) {
                try await store.saveAlertRules(organizationID: org.id, rules, audit: audit)
            }
            #expect(try await store.alertRules(organizationID: org.id) == AlertRules())
        }
    }
}

/// Reading the rules' JSON (the API's body and the stored definition): every problem names its field.
@Suite struct AlertRulesJSONTests {
    func apply(_ json: String) throws -> AlertRules {
        try AlertRules().applying(try JSONParser.parse(Array(json.utf8)))
    }

    func problem(_ json: String) -> FieldProblem? {
        do {
            _ = try apply(json)
            return nil
        } catch TallyError.invalid(let problems) {
            return problems.first
        } catch {
            return FieldProblem(field: "?", reason: "\(error)")
        }
    }

    @Test func membersLeftOutKeepTheirValue() throws {
        let rules = try apply(#"{"spike": {"threshold_percent": 50}, "muted_until": {"unpriced_model": "2027-01-01"}}"#)
        #expect(rules.spike == .init(enabled: true, thresholdPercent: 50, floor: USD(nanos: 1_000_000_000)))
        #expect(rules.mutedUntil == ["unpriced_model": at("2027-01-01T00:00:00Z")])
        let unmuted = try rules.applying(
            try JSONParser.parse(Array(#"{"muted_until": {"unpriced_model": null}}"#.utf8)))
        #expect(unmuted.mutedUntil.isEmpty)
        #expect(try AlertRules(definition: rules.json) == rules)
    }

    @Test func hostileValuesAreRefusedByField() {
        #expect(
            problem(#"{"spike": {"threshold_percent": 99999999999999999999999}}"#)?.field == "spike.threshold_percent")
        #expect(problem(#"{"spike": {"threshold_percent": 0}}"#)?.field == "spike.threshold_percent")
        #expect(problem(#"{"spike": {"threshold_percent": 1.5}}"#)?.field == "spike.threshold_percent")
        #expect(problem(#"{"spike": {"floor_usd": "-1"}}"#)?.field == "spike.floor_usd")
        #expect(problem(#"{"spike": {"floor_usd": "1e308"}}"#)?.field == "spike.floor_usd")
        #expect(problem(#"{"spike": {"floor_usd": 1}}"#)?.field == "spike.floor_usd")
        #expect(problem(#"{"spike": {"floor_usd": "99999999999999999999"}}"#)?.field == "spike.floor_usd")
        #expect(problem(#"{"spike": {"enabled": "yes"}}"#)?.field == "spike.enabled")
        #expect(problem(#"{"spike": {"colour": 1}}"#)?.field == "spike.colour")
        #expect(problem(#"{"spike": 3}"#)?.field == "spike")
        #expect(problem(#"{"channels": ["ch_a\u0000"]}"#)?.field == "channels")
        #expect(problem(#"{"channels": ["<script>"]}"#)?.field == "channels")
        #expect(problem(#"{"channels": "ch_a"}"#)?.field == "channels")
        #expect(problem(#"{"muted_until": {"budget": "2027-01-01"}}"#)?.field == "muted_until.budget")
        #expect(problem(#"{"muted_until": {"spike": "soon"}}"#)?.field == "muted_until.spike")
        #expect(problem(#"{"provider_connection": {"enabled": null, "x": 1}}"#)?.field == "provider_connection.x")
        #expect(problem(#"[]"#)?.field == "body")
        #expect(problem(#"{"unknown": 1}"#)?.field == "unknown")
    }
}
