import Foundation
import Hummingbird
import HummingbirdTesting
import TallyCore
import TallyServer
import TallyStoreSQL
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices
@testable import TallyWeb

/// Issue 14, items 6, 7, 8 and 11 (accounts): each test here failed on the code before its fix.
@Suite struct AccountSecurityTests {
    /// Creates an `admin`-scoped token as a signed-in person; returns its id and secret.
    func adminToken(_ client: some TestClientProtocol, _ b: inout Browser) async throws -> (id: String, secret: String)
    {
        let made = try await client.send(
            .post, "/api/v1/tokens", browser: &b, json: #"{"project":"web","scopes":["admin"]}"#)
        #expect(made.status == .created, "\(made.text.prefix(200))")
        return (try #require(str(made.json?["token"]?["id"])), try #require(str(made.json?["secret"])))
    }

    // MARK: Item 6: removed or demoted members keep working tokens

    @Test func removingAMemberRevokesTheirTokensAndSaysWhich() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("owner@example.com", .owner)
        let admin = try await f.member("admin@example.com", .admin)
        _ = try await f.store.createProject(organizationID: "org_default", name: "web")
        try await f.app().test(.router) { client in
            var ownerB = try await client.signIn("owner@example.com")
            var adminB = try await client.signIn("admin@example.com")
            let mine = try await adminToken(client, &adminB)
            // A token made with that token carries the same person's authority.
            let child = try await client.call(
                .post, "/api/v1/tokens", token: mine.secret, body: #"{"project":"web","scopes":["admin"]}"#)
            let childSecret = try #require(str(child.json?["secret"]))
            let childID = try #require(str(child.json?["token"]?["id"]))
            let othersToken = try await adminToken(client, &ownerB)

            let removed = try await client.send(.delete, "/api/v1/members/\(admin.id)", browser: &ownerB)
            #expect(removed.status == .ok)
            #expect(str(removed.json?["user_id"]) == admin.id)
            let listed = Set(array(removed.json?["revoked_tokens"]).compactMap { str($0["id"]) })
            #expect(listed == [mine.id, childID])
            for secret in [mine.secret, childSecret] {
                let r = try await client.call(
                    .post, "/api/v1/invites", token: secret, body: #"{"email":"back@example.com","role":"owner"}"#)
                #expect(r.status == .unauthorized, "a removed admin's token is refused: \(r.status)")
                #expect(try await client.call(.get, "/api/v1/events", token: secret).status == .unauthorized)
            }
            #expect(try await client.call(.get, "/api/v1/events", token: othersToken.secret).status == .ok)
            let log = try await f.store.auditRecords(organizationID: "org_default", limit: 20, before: nil)
            let entry = try #require(log.first { $0.action == "member.remove" })
            #expect(entry.detail.contains(mine.id) && entry.detail.contains(childID))
            #expect(!entry.detail.contains(mine.secret))
        }
    }

    @Test func aDemotedCreatorsTokensAreCappedOnTheNextRequest() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("owner@example.com", .owner)
        let admin = try await f.member("admin@example.com", .admin)
        _ = try await f.store.createProject(organizationID: "org_default", name: "web")
        try await f.app().test(.router) { client in
            var ownerB = try await client.signIn("owner@example.com")
            var adminB = try await client.signIn("admin@example.com")
            let token = try await adminToken(client, &adminB)
            let invite = #"{"email":"friend@example.com","role":"admin"}"#
            func demote(_ role: Role) async throws {
                let r = try await client.send(
                    .patch, "/api/v1/members/\(admin.id)", browser: &ownerB, json: #"{"role":"\#(role.rawValue)"}"#)
                #expect(r.status == .ok)
            }

            try await demote(.member)
            #expect(
                try await client.call(.post, "/api/v1/invites", token: token.secret, body: invite).status == .forbidden)
            let sent = try await client.call(
                .post, "/api/v1/events", token: token.secret, body: event("e1", extra: #","project":"web""#))
            #expect((200..<300).contains(Int(sent.status.code)), "a member may still send events: \(sent.status)")

            try await demote(.viewer)
            #expect(try await client.call(.get, "/api/v1/events", token: token.secret).status == .ok, "a viewer reads")
            let write = try await client.call(
                .post, "/api/v1/events", token: token.secret, body: event("e2", extra: #","project":"web""#))
            #expect(write.status == .forbidden, "a viewer's token only reads: \(write.status)")
            #expect(
                try await client.call(.post, "/api/v1/invites", token: token.secret, body: invite).status == .forbidden)
            let me = try await client.call(.get, "/api/v1/me", token: token.secret)
            #expect(array(me.json?["token"]?["scopes"]) == [.string("read")], "the answer shows the scopes in force")

            try await demote(.admin)
            #expect(
                try await client.call(.post, "/api/v1/invites", token: token.secret, body: invite).status == .created,
                "promoted again, the token does what its scopes say")
        }
    }

    /// The gateway reads tokens through the same check (remembered at most `gatewayCredentialSeconds`; 0 here).
    /// With the gateway's token memory off, and on (60 s): a role change or a removal through the API makes the
    /// gateway forget what it remembers, so on this replica the change holds for the very next call.
    @Test(arguments: [0, 60]) func theGatewayCapsAndRefusesTokensLikeTheAPI(rememberSeconds: Int) async throws {
        var f = try await AccountsFixture.make()
        f.options.gatewayCredentialSeconds = rememberSeconds
        _ = try await f.member("owner@example.com", .owner)
        let mem = try await f.member("mem@example.com", .member)
        _ = try await f.store.createProject(organizationID: "org_default", name: "web")
        try await f.app().test(.router) { client in
            var ownerB = try await client.signIn("owner@example.com")
            var memB = try await client.signIn("mem@example.com")
            let made = try await client.send(
                .post, "/api/v1/tokens", browser: &memB, json: #"{"project":"web","scopes":["gateway"]}"#)
            let secret = try #require(str(made.json?["secret"]))
            func call() async throws -> Reply {
                try await client.call(
                    .post, "/gateway/openai/v1/chat/completions", token: secret,
                    body: #"{"model":"gpt-4o","messages":[]}"#)
            }
            let before = try await call()
            #expect(
                !before.text.contains("lacks") && !before.text.contains("not valid"),
                "\(before.status) \(before.text.prefix(200))")

            _ = try await client.send(
                .patch, "/api/v1/members/\(mem.id)", browser: &ownerB, json: #"{"role":"viewer"}"#)
            let demoted = try await call()
            #expect(
                demoted.status == .forbidden && demoted.text.contains("lacks the 'gateway' scope"),
                "\(demoted.status) \(demoted.text.prefix(200))")

            _ = try await client.send(.delete, "/api/v1/members/\(mem.id)", browser: &ownerB)
            let removed = try await call()
            #expect(
                removed.status == .unauthorized && removed.text.contains("not valid"),
                "\(removed.status) \(removed.text.prefix(200))")
        }
    }

    // MARK: Item 7: invite links

    /// The invite page with what differs by invite (secret, email, CSRF token) taken out.
    func normalized(_ html: String, secret: String, email: String, csrf: String) -> String {
        html.replacingOccurrences(of: secret, with: "SECRET").replacingOccurrences(of: email, with: "EMAIL")
            .replacingOccurrences(of: csrf, with: "CSRF")
    }

    @Test func anInviteForAnExistingAccountNeverAsksForItsPassword() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("owner@example.com", .owner)
        let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
        try await f.store.createOrganization(other)
        _ = try await f.member("bob@example.com", .owner, org: other.id)
        try await f.app().test(.router) { client in
            var owner = try await client.signIn("owner@example.com")
            func invite(_ email: String) async throws -> String {
                let r = try await client.send(
                    .post, "/api/v1/invites", browser: &owner, json: #"{"email":"\#(email)","role":"member"}"#)
                return String(try #require(str(r.json?["url"])).dropFirst("http://127.0.0.1:8080".count))
            }
            let forBob = try await invite("bob@example.com"), forCy = try await invite("cy@example.com")

            // The page is the same whether or not the address has an account.
            var anon = Browser()
            let bobPage = try await client.send(.get, forBob, browser: &anon)
            let csrf = try #require(anon.hidden("_csrf", in: bobPage.text))
            let cyPage = try await client.send(.get, forCy, browser: &anon)
            #expect(bobPage.status == .ok && cyPage.status == .ok)
            #expect(
                normalized(bobPage.text, secret: String(forBob.dropFirst(9)), email: "bob@example.com", csrf: csrf)
                    == normalized(cyPage.text, secret: String(forCy.dropFirst(9)), email: "cy@example.com", csrf: csrf))
            #expect(!bobPage.text.contains("current-password"))

            // Posting passwords to it guesses nothing: no password is checked, attempts are throttled and audited.
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<6 {
                let r = try await client.send(
                    .post, forBob, browser: &anon,
                    form: form([
                        ("_csrf", csrf), ("name", "Bob"), ("password", "correct horse battery\(i == 0 ? "" : "\(i)")"),
                    ]))
                statuses.append(r.status)
                #expect(anon.cookies["tally_session"] == nil)
            }
            #expect(statuses == Array(repeating: .conflict, count: 5) + [.tooManyRequests], "\(statuses)")
            let log = try await f.store.auditRecords(organizationID: "org_default", limit: 50, before: nil)
            #expect(log.filter { $0.action == "invite.accept_failed" }.count == 5)
            #expect(
                try await f.store.members(organizationID: "org_default").allSatisfy {
                    $0.user.email != "bob@example.com"
                })

            // Bob, signed in, joins with one button; the throttle does not stand in the way of his session.
            try await f.store.clearLoginFailures(account: "bob@example.com")
            var bob = try await client.signIn("bob@example.com")
            let joinPage = try await client.send(.get, forBob, browser: &bob)
            #expect(joinPage.text.contains("Join") && !joinPage.text.contains("type=\"password\""))
            let token = try #require(bob.hidden("_csrf", in: joinPage.text))
            let joined = try await client.send(.post, forBob, browser: &bob, form: form([("_csrf", token)]))
            #expect(joined.status == .seeOther)
            let me = try await client.send(.get, "/api/v1/me", browser: &bob)
            #expect(
                me.json?["organization"]?["id"] == .string("org_default")
                    && me.json?["organization"]?["role"] == .string("member"))

            // A new person still creates their account through the link.
            var cy = Browser()
            let cyCSRF = try #require(cy.hidden("_csrf", in: try await client.send(.get, forCy, browser: &cy).text))
            let created = try await client.send(
                .post, forCy, browser: &cy,
                form: form([("_csrf", cyCSRF), ("name", "Cy"), ("password", "a long enough password")]))
            #expect(created.status == .seeOther && cy.cookies["tally_session"] != nil)
        }
    }

    // MARK: Item 8: the sign-in throttle

    @Test func concurrentWrongPasswordsAreVerifiedAtMostFiveTimes() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        try await f.app().test(.router) { client in
            var b = Browser()
            let csrf = b.hidden("_csrf", in: try await client.send(.get, "/login", browser: &b).text) ?? ""
            let browser = b
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        var mine = browser
                        return try await client.send(
                            .post, "/login", browser: &mine,
                            form: form([
                                ("_csrf", csrf), ("email", "ada@example.com"), ("password", "wrong password \(i)"),
                            ])
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .unauthorized }.count == 5, "\(statuses.map(\.code))")
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 35)
            let log = try await f.store.auditRecords(organizationID: "org_default", limit: 100, before: nil)
            #expect(log.filter { $0.action == "login_failed" }.count == 5)
            // The refused ones recorded nothing, so the address is not locked out for another account.
            _ = try await f.member("bea@example.com", .viewer)
            _ = try await client.signIn("bea@example.com")
        }
    }

    @Test func behindATrustedProxyTheClientAddressComesFromXForwardedFor() async throws {
        var f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        func failedSignInAddress(_ f: AccountsFixture) async throws -> String? {
            let found = try await f.app().test(.live) { client -> String? in
                var b = Browser()
                let csrf = b.hidden("_csrf", in: try await client.send(.get, "/login", browser: &b).text) ?? ""
                // The client forged the first entry; the proxy appended the address it saw.
                let r = try await client.send(
                    .post, "/login", browser: &b,
                    form: form([
                        ("_csrf", csrf), ("email", "ada@example.com"), ("password", "wrong password!"),
                    ]), extra: [.init("X-Forwarded-For")!: "198.51.100.9, 203.0.113.5"])
                #expect(r.status == .unauthorized)
                let log = try await f.store.auditRecords(organizationID: "org_default", limit: 5, before: nil)
                return log.first { $0.action == "login_failed" }.flatMap { record in
                    str((try? JSONParser.parse(Array(record.detail.utf8)))?["address"])
                }
            }
            try await f.store.clearLoginFailures(account: "ada@example.com")
            let log = try await f.store.auditRecords(organizationID: "org_default", limit: 50, before: nil)
            #expect(log.filter { $0.action == "login_failed" }.count >= 1)
            return found
        }
        #expect(try await failedSignInAddress(f) == "127.0.0.1", "untrusted: the header is ignored")
        f.options.trustedProxies = try TrustedProxies.parse("10.0.0.0/8, 127.0.0.1").get()
        #expect(try await failedSignInAddress(f) == "203.0.113.5")
    }

    @Test func trustedProxiesParseCIDRsAndSkipTheirOwnHops() throws {
        let proxies = try TrustedProxies.parse("10.0.0.0/8,192.168.1.7 fd00::/8").get()
        #expect(proxies.contains("10.200.3.4") && proxies.contains("::ffff:10.0.0.1") && proxies.contains("fd12::1"))
        #expect(
            !proxies.contains("11.0.0.1") && !proxies.contains("192.168.1.8") && !proxies.contains("not an address"))
        #expect(proxies.clientAddress(peer: "10.0.0.2", forwardedFor: ["1.2.3.4, 5.6.7.8", "10.1.1.1"]) == "5.6.7.8")
        #expect(proxies.clientAddress(peer: "8.8.8.8", forwardedFor: ["1.2.3.4"]) == "8.8.8.8")
        #expect(proxies.clientAddress(peer: "10.0.0.2", forwardedFor: []) == "10.0.0.2")
        #expect(TrustedProxies.parse("10.0.0.0/33") == .failure(.init(entry: "10.0.0.0/33")))
        #expect(throws: TallyConfig.Problem.self) {
            try TallyConfig.load(environment: ["TALLY_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"], flags: [:])
        }
        let config = try TallyConfig.load(environment: ["TALLY_TRUSTED_PROXIES": "127.0.0.1"], flags: [:])
        #expect(config.trustedProxies.contains("127.0.0.1"))
    }

    // MARK: Item 11: redirects, names, passwords

    @Test func signInRedirectsOnlyToPathsOnThisSite() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        try await f.app().test(.router) { client in
            let cases = [
                ("/\t/evil.example", "/"), ("/%09/evil.example", "/"), ("/%2F/evil.example", "/"),
                ("//evil.example", "/"),
                ("/\\evil.example", "/"), ("/%5Cevil.example", "/"), ("https://evil.example", "/"),
                ("/\n/evil.example", "/"),
                ("/settings/tokens?x=1", "/settings/tokens?x=1"), ("/", "/"),
            ]
            for (next, expected) in cases {
                var b = Browser()
                let csrf = b.hidden("_csrf", in: try await client.send(.get, "/login", browser: &b).text) ?? ""
                let r = try await client.send(
                    .post, "/login", browser: &b,
                    form: form([
                        ("_csrf", csrf), ("email", "ada@example.com"), ("password", "correct horse battery"),
                        ("next", next),
                    ]))
                #expect(
                    r.status == .seeOther && r.headers[.location] == expected,
                    "next=\(next.debugDescription): \(r.headers[.location] ?? "")")
            }
        }
    }

    @Test func namesRefuseControlAndBidiCharacters() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        _ = try await f.store.createProject(organizationID: "org_default", name: "web")
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            for bad in [
                "Acme\u{0}", "Acme\u{7}", "Acme\u{85}", "Acme\u{202E}gpj.exe", "Acme\u{2066}x\u{2069}",
                "Acme\u{2028}Inc",
                "Acme\nInc", "Acme\u{9F}",
            ] {
                let quoted = JSONWriter.encode(.string(bad))
                let calls: [(HTTPRequest.Method, String, String)] = [
                    (.patch, "/api/v1/organization", #"{"name":\#(quoted)}"#),
                    (.post, "/api/v1/organizations", #"{"name":\#(quoted)}"#),
                    (.post, "/api/v1/tokens", #"{"name":\#(quoted),"project":"web","scopes":["read"]}"#),
                    (
                        .post, "/api/v1/provider-connections",
                        #"{"provider":"openai","name":\#(quoted),"api_key":"sk-test-abcdefghijkl","validate":false}"#
                    ),
                ]
                for (method, path, body) in calls {
                    let r = try await client.send(method, path, browser: &b, json: body)
                    #expect(
                        r.status == .badRequest && r.errorCode == "invalid_request"
                            && str(first(r.json?["error"]?["details"])?["field"]) == "name",
                        "\(path) \(bad.debugDescription): \(r.status) \(r.text.prefix(200))")
                }
            }
            #expect(try await f.store.organization(id: "org_default")?.name != "Acme\u{0}")
            for email in ["a\u{0}b@example.com", "a\u{1B}b@example.com", "ab@exa\u{85}mple.com"] {
                let r = try await client.send(
                    .post, "/api/v1/invites", browser: &b,
                    json: #"{"email":\#(JSONWriter.encode(.string(email))),"role":"viewer"}"#)
                #expect(
                    r.status == .badRequest && str(first(r.json?["error"]?["details"])?["field"]) == "email",
                    "\(r.status)")
            }
            let fine = try await client.send(
                .patch, "/api/v1/organization", browser: &b, json: #"{"name":"Ünïcode Café 日本 ‎"}"#)
            #expect(fine.status == .ok, "letters of any script are names: \(fine.text.prefix(200))")
        }
    }

    @Test func passwordsWithNULOrOver72BytesAreRefused() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            for bad in ["correct horse\u{0}anything", String(repeating: "é", count: 37)] {
                let quoted = JSONWriter.encode(.string(bad))
                let r = try await client.send(
                    .post, "/api/v1/me/password", browser: &b,
                    json: #"{"current_password":"correct horse battery","new_password":\#(quoted)}"#)
                #expect(
                    r.status == .badRequest && str(first(r.json?["error"]?["details"])?["field"]) == "new_password",
                    "\(r.status) \(r.text.prefix(200))")
            }
            #expect(User.validate(password: "correct horse\u{0}anything") == "must not contain a NUL character")
        }
    }
}
