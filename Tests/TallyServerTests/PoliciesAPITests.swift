import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import TallyCore
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

@testable import TallyServer
@testable import TallyServices

@Suite struct PoliciesAPITests {
    /// The API's shape: scope by project name, rules as given (money a decimal string), hits by mode; PATCH changes
    /// only what it names; every change tells the guard; delete answers 204 and the policy is gone.
    @Test func policiesAreCreatedChangedAndDeleted() async throws {
        let f = try await Fixture.make()
        let policies = InMemoryPolicies()
        let changes = Mutex<[String]>([])
        let router = guardrailRouter(store: f.store, policies: policies) { org in changes.withLock { $0.append(org) } }
        try await Application(router: router).test(.router) { client in
            let created = try await client.call(
                .post, "/api/v1/policies", token: f.admin,
                body: #"""
                    {"name":"Batch jobs","scope":{"project":"web","feature":"batch"},
                     "rules":{"models_allow":["gpt-5.4-*","gpt-5.4-*"],"max_cost_per_request_usd":"0.5",
                              "requests_per_minute":60,"max_concurrent":4}}
                    """#)
            #expect(created.status == .created, "\(created.text)")
            let json = try #require(created.json)
            let id = try #require(str(json["id"]))
            #expect(id.hasPrefix("pol_"))
            #expect(json["mode"] == .string("monitor"))
            #expect(json["scope"] == .object([("project", .string("web")), ("feature", .string("batch"))]))
            #expect(json["rules"]?["models_allow"] == .array([.string("gpt-5.4-*")]))
            #expect(json["rules"]?["max_cost_per_request_usd"] == .string("0.50"))
            #expect(int(json["rules"]?["requests_per_minute"]) == 60 && json["rules"]?["max_output_tokens"] == nil)
            #expect(json["channel_ids"] == .array([]))
            #expect(int(json["hits_7d"]?["enforce"]) == 0 && int(json["hits_7d"]?["monitor"]) == 0)
            #expect(changes.withLock { $0 } == ["org_default"])

            try await policies.recordPolicyHits([
                PolicyHit(
                    organizationID: "org_default", policyID: id, budgetID: nil, rule: .requestsPerMinute,
                    mode: .monitor, at: .now, projectID: "nope", model: "gpt-5.4-mini", message: "would block"),
                PolicyHit(
                    organizationID: "org_default", policyID: id, budgetID: nil, rule: .modelsAllow, mode: .monitor,
                    at: Instant(microseconds: Instant.now.microseconds - 1_000_000), projectID: "nope",
                    model: "gpt-4o", message: "older"),
            ])
            let patched = try await client.call(
                .patch, "/api/v1/policies/\(id)", token: f.admin,
                body:
                    #"{"mode":"enforce","scope":{"feature":null},"rules":{"max_concurrent":null,"tokens_per_minute":"5000"}}"#
            )
            #expect(patched.status == .ok, "\(patched.text)")
            let p = try #require(patched.json)
            #expect(p["mode"] == .string("enforce") && p["name"] == .string("Batch jobs"))
            #expect(p["scope"] == .object([("project", .string("web"))]))
            #expect(p["rules"]?["max_concurrent"] == nil && int(p["rules"]?["tokens_per_minute"]) == 5000)
            #expect(int(p["rules"]?["requests_per_minute"]) == 60)
            #expect(int(p["hits_7d"]?["monitor"]) == 2 && int(p["hits_7d"]?["enforce"]) == 0)

            let hits = try await client.call(.get, "/api/v1/policies/\(id)/hits?limit=1", token: f.admin)
            #expect(hits.status == .ok)
            #expect(array(hits.json?["data"]).count == 1)
            #expect(first(hits.json?["data"])?["message"] == .string("would block"))
            #expect(first(hits.json?["data"])?["rule"] == .string("requests_per_minute"))
            #expect(
                try await client.call(.get, "/api/v1/policies/\(id)/hits?limit=0", token: f.admin).status == .badRequest
            )

            let list = try await client.call(.get, "/api/v1/policies", token: f.admin)
            #expect(array(list.json?["data"]).count == 1)
            #expect(try await client.call(.delete, "/api/v1/policies/\(id)", token: f.admin).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/policies/\(id)", token: f.admin).status == .notFound)
            #expect(changes.withLock { $0.count } == 3)
            #expect(policies.audit.map(\.action) == ["policy.create", "policy.update", "policy.delete"])
        }
    }

    /// Each bad input is a 400 naming its field; nothing is stored.
    @Test(arguments: [
        (#"{"rules":{"max_concurrent":1}}"#, "name"),
        (#"{"name":"x"}"#, "rules"),
        (#"{"name":"x","rules":{}}"#, "rules"),
        (#"{"name":"","rules":{"max_concurrent":1}}"#, "name"),
        (#"{"name":"a\u0000b","rules":{"max_concurrent":1}}"#, "name"),
        ("{\"name\":\"\(String(repeating: "n", count: 101))\",\"rules\":{\"max_concurrent\":1}}", "name"),
        (#"{"name":"x","rules":{"max_concurrent":1},"colour":"red"}"#, "colour"),
        (#"{"name":"x","mode":"block","rules":{"max_concurrent":1}}"#, "mode"),
        (#"{"name":7,"rules":{"max_concurrent":1}}"#, "name"),
        (#"{"name":"x","scope":{"project":"nope"},"rules":{"max_concurrent":1}}"#, "scope.project"),
        (#"{"name":"x","scope":{"token":"tok_missing"},"rules":{"max_concurrent":1}}"#, "scope.token"),
        (#"{"name":"x","scope":{"token":"tok_\u0000"},"rules":{"max_concurrent":1}}"#, "scope.token"),
        (#"{"name":"x","scope":{"user":""},"rules":{"max_concurrent":1}}"#, "scope.user"),
        (#"{"name":"x","scope":{"feature":"a\nb"},"rules":{"max_concurrent":1}}"#, "scope.feature"),
        (#"{"name":"x","scope":{"team":"a"},"rules":{"max_concurrent":1}}"#, "scope.team"),
        (#"{"name":"x","scope":["web"],"rules":{"max_concurrent":1}}"#, "scope"),
        (#"{"name":"x","rules":{"max_concurrent":0}}"#, "rules.max_concurrent"),
        (#"{"name":"x","rules":{"max_concurrent":1.5}}"#, "rules.max_concurrent"),
        (#"{"name":"x","rules":{"requests_per_minute":1000000001}}"#, "rules.requests_per_minute"),
        (#"{"name":"x","rules":{"tokens_per_minute":99999999999999999999999999}}"#, "rules.tokens_per_minute"),
        (#"{"name":"x","rules":{"max_output_tokens":10000001}}"#, "rules.max_output_tokens"),
        (#"{"name":"x","rules":{"max_cost_per_request_usd":0.5}}"#, "rules.max_cost_per_request_usd"),
        (#"{"name":"x","rules":{"max_cost_per_request_usd":"0"}}"#, "rules.max_cost_per_request_usd"),
        (#"{"name":"x","rules":{"max_cost_per_request_usd":"1000000.01"}}"#, "rules.max_cost_per_request_usd"),
        (#"{"name":"x","rules":{"models_allow":[]}}"#, "rules.models_allow"),
        (#"{"name":"x","rules":{"models_deny":[""]}}"#, "rules.models_deny"),
        (#"{"name":"x","rules":{"models_deny":"gpt-*"}}"#, "rules.models_deny"),
        (#"{"name":"x","rules":{"models_allow":["a\u0000"]}}"#, "rules.models_allow"),
        (#"{"name":"x","rules":{"max_tokens":5}}"#, "rules.max_tokens"),
        (#"{"name":"x","rules":{"max_concurrent":1},"channel_ids":["ch_missing"]}"#, "channel_ids"),
        (#"{"name":"x","rules":{"max_concurrent":1},"channel_ids":["ch_\u0000"]}"#, "channel_ids"),
        (#"{"name":"x","rules":{"max_concurrent":1},"channel_ids":"ch_a"}"#, "channel_ids"),
    ])
    func badInputIsA400NamingTheField(body: String, field: String) async throws {
        let f = try await Fixture.make()
        let policies = InMemoryPolicies()
        try await Application(router: guardrailRouter(store: f.store, policies: policies)).test(.router) { client in
            let r = try await client.call(.post, "/api/v1/policies", token: f.admin, body: body)
            #expect(r.status == .badRequest, "\(body): \(r.text)")
            #expect(r.errorCode == "invalid_request")
            let fields = array(r.json?["error"]?["details"]).compactMap { str($0["field"]) }
            #expect(fields.contains(field), "\(body): \(fields)")
        }
        #expect(try await policies.policies(organizationID: "org_default").isEmpty)
    }

    /// A glob list past 100, and a huge body of names, are refused by name too; a token of the organization is taken.
    @Test func listsAreBoundedAndTokensOfTheOrganizationAreTaken() async throws {
        let f = try await Fixture.make()
        let policies = InMemoryPolicies()
        try await Application(router: guardrailRouter(store: f.store, policies: policies)).test(.router) { client in
            let many = (0...100).map { "\"m\($0)\"" }.joined(separator: ",")
            let r = try await client.call(
                .post, "/api/v1/policies", token: f.admin, body: #"{"name":"x","rules":{"models_deny":[\#(many)]}}"#)
            #expect(r.status == .badRequest && r.text.contains("rules.models_deny"))
            let ok = try await client.call(
                .post, "/api/v1/policies", token: f.admin,
                body:
                    #"{"name":"one token","scope":{"token":"\#(f.ingestTokenID)"},"rules":{"max_output_tokens":1000}}"#)
            #expect(ok.status == .created, "\(ok.text)")
            #expect(ok.json?["scope"]?["token"] == .string(f.ingestTokenID))
            let twice = try await client.call(
                .post, "/api/v1/policies", token: f.admin, body: #"{"name":"one token","rules":{"max_concurrent":1}}"#)
            #expect(twice.status == .conflict)
            // Each policy in scope is a counter in every call's reservation: at most 100 per organization.
            for i in 1..<PolicyService<InMemoryPolicies, SQLiteStore>.maximumCount {
                let r = try await client.call(
                    .post, "/api/v1/policies", token: f.admin, body: #"{"name":"p\#(i)","rules":{"max_concurrent":1}}"#)
                try #require(r.status == .created, "\(r.text)")
            }
            let past = try await client.call(
                .post, "/api/v1/policies", token: f.admin, body: #"{"name":"past","rules":{"max_concurrent":1}}"#)
            #expect(past.status == .conflict && past.text.contains("at most 100 policies"))
        }
    }

    /// A PATCH that would leave no rule, or breaks one, is refused by name and changes nothing; the guard is not told.
    @Test func aRefusedChangeLeavesThePolicyAsItWas() async throws {
        let f = try await Fixture.make()
        let policies = InMemoryPolicies()
        let changes = Mutex(0)
        let router = guardrailRouter(store: f.store, policies: policies) { _ in changes.withLock { $0 += 1 } }
        try await Application(router: router).test(.router) { client in
            let created = try await client.call(
                .post, "/api/v1/policies", token: f.admin,
                body: #"{"name":"Cap","mode":"enforce","rules":{"max_concurrent":2}}"#)
            #expect(created.status == .created && created.json?["mode"] == .string("enforce"))
            let id = try #require(str(created.json?["id"]))
            for (body, field) in [
                (#"{"rules":{"max_concurrent":null}}"#, "rules"),
                (#"{"name":"Renamed","rules":{"max_concurrent":-1}}"#, "rules.max_concurrent"),
                (#"{"mode":"monitor","scope":{"project":"nope"}}"#, "scope.project"),
            ] {
                let r = try await client.call(.patch, "/api/v1/policies/\(id)", token: f.admin, body: body)
                #expect(r.status == .badRequest, "\(body): \(r.text)")
                #expect(array(r.json?["error"]?["details"]).compactMap { str($0["field"]) } == [field], "\(body)")
            }
        }
        let stored = try #require(
            try await policies.policy(organizationID: "org_default", id: policies.state.withLock { $0.policies[0].id }))
        #expect(stored.name == "Cap" && stored.mode == .enforce && stored.rules == PolicyRules(maxConcurrent: 2))
        #expect(stored.scope.isEmpty)
        #expect(changes.withLock { $0 } == 1)
    }

    /// Read and write are for admins; another organization's policy is not found, whatever the method.
    @Test func onlyAdminsOfTheOrganization() async throws {
        let f = try await Fixture.make()
        let policies = InMemoryPolicies()
        try await f.store.createOrganization(Organization(id: "org_b", name: "B", timeZone: "UTC", createdAt: .now))
        let theirs = Policy(
            id: "pol_theirs", organizationID: "org_b", name: "Theirs", scope: PolicyScope(), mode: .enforce,
            rules: PolicyRules(maxConcurrent: 1), createdAt: .now, updatedAt: .now)
        try await policies.createPolicy(theirs, audit: .make(organizationID: "org_b", actor: "t", action: "x"))
        try await Application(router: guardrailRouter(store: f.store, policies: policies)).test(.router) { client in
            for token in [f.readOnly, f.ingest] {
                #expect(try await client.call(.get, "/api/v1/policies", token: token).status == .forbidden)
                let post = try await client.call(
                    .post, "/api/v1/policies", token: token, body: #"{"name":"x","rules":{"max_concurrent":1}}"#)
                #expect(post.status == .forbidden)
            }
            #expect(try await client.call(.get, "/api/v1/policies").status == .unauthorized)
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/v1/policies/pol_theirs"), (.patch, "/api/v1/policies/pol_theirs"),
                (.delete, "/api/v1/policies/pol_theirs"), (.get, "/api/v1/policies/pol_theirs/hits"),
            ] {
                let r = try await client.call(method, path, token: f.admin, body: #"{"name":"stolen"}"#)
                #expect(r.status == .notFound, "\(method) \(path): \(r.status)")
            }
            #expect(array(try await client.call(.get, "/api/v1/policies", token: f.admin).json?["data"]).isEmpty)
        }
        #expect(try await policies.policy(organizationID: "org_b", id: "pol_theirs")?.name == "Theirs")
    }
}
