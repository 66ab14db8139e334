import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import TallyCore
import TallyServer
import TallyStoreSQL
import Testing

@testable import TallyHTTP
@testable import TallyServices

/// Issue 23 through the router: two-factor enrolment and the second step, the organization's sign-in rules, and
/// unverified accounts kept from tokens and keys. (Single sign-on runs against a real provider in e2e/test_sso.py.)
@Suite struct SignInRoundTwoTests {
    /// Enrols `email` through the account pages and returns the TOTP secret and the recovery codes.
    func enrol(_ client: some TestClientProtocol, _ b: inout Browser) async throws -> (secret: [UInt8], codes: [String])
    {
        let page = try await client.send(.get, "/account/two-factor", browser: &b)
        #expect(page.status == .ok && page.text.contains("<svg") && page.text.contains("class=\"qr"))
        let typed = try #require(page.text.range(of: "id=\"totp-secret\">").map { page.text[$0.upperBound...] })
        let secret = try #require(Base32.decode(String(typed.prefix { $0 != "<" })))
        let csrf = try #require(b.csrf)

        let wrong = try await client.send(
            .post, "/account/two-factor", browser: &b, form: form([("_csrf", csrf), ("code", "000000")]))
        #expect(wrong.status == .unprocessableContent && wrong.text.contains("is not the current code"))
        let now = Int64(Date().timeIntervalSince1970)
        let done = try await client.send(
            .post, "/account/two-factor", browser: &b,
            form: form([("_csrf", csrf), ("code", TOTP.code(secret: secret, step: TOTP.step(at: now)))]))
        #expect(done.status == .ok)
        let codes = done.text.components(separatedBy: "<li><code>").dropFirst().map { String($0.prefix { $0 != "<" }) }
        #expect(codes.count == 10 && Set(codes).count == 10)
        return (secret, codes)
    }

    /// The password step: a 303 to the second step with its challenge cookie.
    func password(_ client: some TestClientProtocol, _ email: String) async throws -> Browser {
        var b = Browser()
        let page = try await client.send(.get, "/login", browser: &b)
        let reply = try await client.send(
            .post, "/login", browser: &b,
            form: form([
                ("_csrf", b.hidden("_csrf", in: page.text) ?? ""), ("email", email),
                ("password", "correct horse battery"),
            ]))
        #expect(reply.status == .seeOther && reply.headers[.location] == "/login/two-factor")
        #expect(b.cookies["tally_session"] == nil && b.cookies["tally_2fa"] != nil)
        return b
    }

    func secondStep(_ client: some TestClientProtocol, _ b: inout Browser, _ fields: [(String, String)])
        async throws -> Reply
    {
        let page = try await client.send(.get, "/login/two-factor", browser: &b)
        let csrf = b.hidden("_csrf", in: page.text) ?? ""
        return try await client.send(.post, "/login/two-factor", browser: &b, form: form([("_csrf", csrf)] + fields))
    }

    @Test func twoFactorEnrolsThenAsksASecondStepThatRefusesReplaysAndSpendsRecoveryCodesOnce() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        try await f.app().test(.router) { client in
            var a = try await client.signIn("ada@example.com")
            let (secret, codes) = try await enrol(client, &a)
            let account = try await client.send(.get, "/account", browser: &a)
            #expect(account.text.contains("10 of 10 recovery codes left"))

            // Signing in now takes a second step; the wrong code, then the right one.
            var b = try await password(client, "ada@example.com")
            #expect(try await client.send(.get, "/", browser: &b).status == .seeOther, "no session before the code")
            let wrong = try await secondStep(client, &b, [("code", "123456")])
            #expect(wrong.status == .unauthorized)
            let now = Int64(Date().timeIntervalSince1970)
            // One step later than the enrolment's code: inside the ±1 window, and not used yet.
            let code = TOTP.code(secret: secret, step: TOTP.step(at: now) + 1)
            let passed = try await secondStep(client, &b, [("code", code)])
            #expect(passed.status == .seeOther && b.cookies["tally_session"] != nil)
            #expect(try await client.send(.get, "/", browser: &b).status == .ok)

            // The same code again (a replay, still inside its window) is refused.
            var replay = try await password(client, "ada@example.com")
            #expect(try await secondStep(client, &replay, [("code", code)]).status == .unauthorized)
            // Two steps ahead is outside the window.
            let far = TOTP.code(secret: secret, step: TOTP.step(at: now) + 3)
            #expect(try await secondStep(client, &replay, [("code", far)]).status == .unauthorized)

            // A recovery code works once.
            #expect(try await secondStep(client, &replay, [("recovery_code", codes[0])]).status == .seeOther)
            var again = try await password(client, "ada@example.com")
            #expect(try await secondStep(client, &again, [("recovery_code", codes[0])]).status == .unauthorized)
            let ada = try #require(try await f.store.userCredentials(email: "ada@example.com")?.user)
            #expect(try await f.store.userSecurity(userID: ada.id).unusedRecoveryCodes == 9)

            let audit = try await f.store.auditRecords(organizationID: "org_default", limit: 50, before: nil).map(
                \.action)
            #expect(audit.contains("two_factor.enable"))
        }
    }

    @Test func onlyASignedInOwnerSetsTheSignInRulesAndRequiredTwoFactorSendsMembersToEnrol() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        _ = try await f.member("adm@example.com", .admin)
        _ = try await f.member("vi@example.com", .viewer)
        try await f.app().test(.router) { client in
            var viewer = try await client.signIn("vi@example.com")
            #expect(try await client.send(.get, "/api/v1/organization/sign-in", browser: &viewer).status == .forbidden)
            var admin = try await client.signIn("adm@example.com")
            let read = try await client.send(.get, "/api/v1/organization/sign-in", browser: &admin)
            #expect(read.status == .ok && read.json?["require_two_factor"] == .bool(false))
            let refused = try await client.send(
                .put, "/api/v1/organization/sign-in", browser: &admin, json: #"{"require_two_factor":true}"#)
            #expect(refused.status == .forbidden)

            var owner = try await client.signIn("ada@example.com")
            // No provider is configured here: requiring single sign-on would lock the members out.
            let noSSO = try await client.send(
                .put, "/api/v1/organization/sign-in", browser: &owner, json: #"{"require_sso":true}"#)
            #expect(noSSO.status == .badRequest && noSSO.text.contains("require_sso"))
            let badType = try await client.send(
                .put, "/api/v1/organization/sign-in", browser: &owner, json: #"{"require_two_factor":"yes"}"#)
            #expect(badType.status == .badRequest && badType.text.contains("require_two_factor"))
            let set = try await client.send(
                .put, "/api/v1/organization/sign-in", browser: &owner, json: #"{"require_two_factor":true}"#)
            #expect(set.status == .ok && set.json?["require_two_factor"] == .bool(true))

            // Every page sends a member without two-factor to enrol; the account pages stay open.
            let home = try await client.send(.get, "/usage", browser: &viewer)
            #expect(home.status == .seeOther && home.headers[.location] == "/account/two-factor")
            let enrolPage = try await client.send(.get, "/account/two-factor", browser: &viewer)
            #expect(enrolPage.status == .ok && enrolPage.text.contains("requires two-factor"))
            _ = try await enrol(client, &viewer)
            #expect(try await client.send(.get, "/usage", browser: &viewer).status == .ok)
            // …and, while required, two-factor cannot be turned off.
            let off = try await client.send(
                .post, "/account/two-factor/disable", browser: &viewer,
                form: form([("_csrf", viewer.csrf ?? ""), ("code", "000000")]))
            #expect(off.status == .forbidden)
        }
    }

    @Test func passwordSignInIsRefusedToMembersOfAnOrganizationRequiringSSOButNotToOwners() async throws {
        let f = try await AccountsFixture.make()
        _ = try await f.member("ada@example.com", .owner)
        _ = try await f.member("me@example.com", .member)
        try await f.store.setSignInRules(organizationID: "org_default", OrganizationSignInRules(requireSSO: true))
        try await f.app().test(.router) { client in
            var b = Browser()
            let page = try await client.send(.get, "/login", browser: &b)
            let refused = try await client.send(
                .post, "/login", browser: &b,
                form: form([
                    ("_csrf", b.hidden("_csrf", in: page.text) ?? ""), ("email", "me@example.com"),
                    ("password", "correct horse battery"),
                ]))
            #expect(refused.status == .forbidden && refused.text.contains("requires single sign-on"))
            #expect(b.cookies["tally_session"] == nil)
            // The owner keeps a way in when the identity provider fails.
            _ = try await client.signIn("ada@example.com")
        }
    }

    @Test func anUnverifiedAccountCanLookButNotCreateTokensOrConnections() async throws {
        let f = try await AccountsFixture.make()
        let user = User(id: Identifier.make("usr"), email: "new@example.com", name: "New", createdAt: .now)
        try await f.store.createUser(
            user, passwordHash: try await f.options.passwords.hash("correct horse battery"), emailVerified: false)
        try await f.store.addMember(organizationID: "org_default", userID: user.id, role: .owner, at: .now)
        let project = try await f.store.createProject(organizationID: "org_default", name: "web")
        try await f.app().test(.router) { client in
            var b = try await client.signIn("new@example.com")
            #expect(try await client.send(.get, "/api/v1/usage/summary", browser: &b).status == .ok)
            let token = try await client.send(
                .post, "/api/v1/tokens", browser: &b,
                json: #"{"name":"ci","project":"\#(project.id)","scopes":["ingest"]}"#)
            #expect(token.status == .forbidden && token.text.contains("verify your email"))
            let connection = try await client.send(
                .post, "/api/v1/provider-connections", browser: &b,
                json: #"{"provider":"openai","name":"o","api_key":"sk-test-123456789012"}"#)
            #expect(connection.status == .forbidden && connection.text.contains("verify your email"))
            let invite = try await client.send(
                .post, "/api/v1/invites", browser: &b, json: #"{"email":"stranger@example.com","role":"viewer"}"#)
            #expect(invite.status == .forbidden && invite.text.contains("verify your email"))

            try await f.store.markEmailVerified(userID: user.id, at: .now)
            let now = try await client.send(
                .post, "/api/v1/tokens", browser: &b,
                json: #"{"name":"ci","project":"\#(project.id)","scopes":["ingest"]}"#)
            #expect(now.status == .created)
        }
    }

    @Test func theAccountPageListsIdentitiesAndRefusesToUnlinkTheLastWayIn() async throws {
        let f = try await AccountsFixture.make()
        let ada = try await f.member("ada@example.com", .owner)
        let sso = User(id: Identifier.make("usr"), email: "sso@example.com", name: "S", createdAt: .now)
        try await f.store.createUser(sso, passwordHash: "", emailVerified: true)
        try await f.store.addMember(organizationID: "org_default", userID: sso.id, role: .viewer, at: .now)
        for (id, user) in [("idn_ada", ada), ("idn_sso", sso)] {
            try await f.store.linkIdentity(
                LinkedIdentity(
                    id: id, userID: user.id, provider: "oidc", issuer: "https://id.example.com", subject: id,
                    email: "<b>\(user.email)</b>", createdAt: .now))
        }
        try await f.app().test(.router) { client in
            var a = try await client.signIn("ada@example.com")
            let page = try await client.send(.get, "/account", browser: &a)
            #expect(page.status == .ok && page.text.contains("data-identity=\"idn_ada\""))
            #expect(page.text.contains("&lt;b&gt;ada@example.com"), "a provider's email is text")
            #expect(!page.text.contains("idn_sso"), "another person's identity is not listed")
            let list = try await client.send(.get, "/api/v1/account/identities", browser: &a)
            #expect(list.status == .ok && list.text.contains("idn_ada") && !list.text.contains("idn_sso"))
            // Another person's identity: 404, and still linked.
            #expect(
                try await client.send(.delete, "/api/v1/account/identities/idn_sso", browser: &a).status == .notFound)
            #expect(try await f.store.identities(userID: sso.id).count == 1)
            // A forged form (no CSRF token) changes nothing.
            let forged = try await client.send(
                .post, "/account/identities/idn_ada/unlink", browser: &a, form: "", csrfHeader: false)
            #expect(forged.status == .forbidden)
            let unlink = try await client.send(
                .post, "/account/identities/idn_ada/unlink", browser: &a, form: form([("_csrf", a.csrf ?? "")]))
            #expect(unlink.status == .seeOther && unlink.headers[.location] == "/account?done=unlinked")
            #expect(try await f.store.identities(userID: ada.id).isEmpty)
        }
        // The SSO-only account cannot unlink its one way in (no password): 409, still linked.
        let accounts = AccountService(store: f.store, publicURL: "http://localhost", logger: Logger(label: "test"))
        let signIn = try await accounts.startSession(user: sso)
        let principal = Principal(.user(sso, .viewer, signIn.session))
        let single = SingleSignOn(accounts: accounts, providers: [])
        await #expect(throws: TallyError.self) { try await single.unlink(principal, id: "idn_sso") }
        #expect(try await f.store.identities(userID: sso.id).count == 1)
    }
}
