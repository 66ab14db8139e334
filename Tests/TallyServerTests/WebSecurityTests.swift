import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TallyCore
import TallyPrice
import TallyStoreSQL
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServer
@testable import TallyServices
@testable import TallyWeb

/// Issue 14, item 4 and parts of 11: markup injection through ids and names, the pages' security headers, pages
/// held to their API's role checks, /metrics behind a token, live streams per session, Secure cookies, private data
/// files, and secrets kept out of the request log.
@Suite struct WebSecurityTests {
    // MARK: Item 4: the headers of every HTML answer

    /// The text of the page's inline scripts (those without `src`).
    func inlineScripts(_ html: String) -> [String] {
        html.components(separatedBy: "<script>").dropFirst().compactMap {
            $0.components(separatedBy: "</script>").first
        }
    }

    func expectSecurityHeaders(_ reply: Reply, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let csp = reply.headers[.init("Content-Security-Policy")!] ?? ""
        #expect(csp.contains("script-src 'self' 'sha256-"), "\(what): CSP \(csp)", sourceLocation: sourceLocation)
        #expect(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "\(what): CSP \(csp)",
            sourceLocation: sourceLocation)
        #expect(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "\(what)", sourceLocation: sourceLocation)
        #expect(reply.headers[.init("X-Content-Type-Options")!] == "nosniff", "\(what)", sourceLocation: sourceLocation)
        #expect(reply.headers[.init("Referrer-Policy")!] == "same-origin", "\(what)", sourceLocation: sourceLocation)
    }

    @Test func everyHTMLAnswerCarriesTheSecurityHeadersAndTheCSPAllowsOnlyOurScripts() async throws {
        let f = try await AccountsFixture.make()
        let ada = try await f.member("ada@example.com", .owner)
        try await f.store.createOrganization(Organization(id: "org_two", name: "Two", timeZone: "UTC", createdAt: .now))
        try await f.store.addMember(organizationID: "org_two", userID: ada.id, role: .viewer, at: .now)
        try await f.app().test(.router) { client in
            var anonymous = Browser()
            let login = try await client.send(.get, "/login", browser: &anonymous)
            expectSecurityHeaders(login, "the sign-in page")
            expectSecurityHeaders(try await client.send(.get, "/events", browser: &anonymous), "a redirect to sign in")
            expectSecurityHeaders(try await client.send(.get, "/invites/nothing", browser: &anonymous), "a 410 page")
            expectSecurityHeaders(try await client.send(.get, "/no/such/page", browser: &anonymous), "an unknown path")

            var b = try await client.signIn("ada@example.com")
            let overview = try await client.send(.get, "/", browser: &b)
            #expect(
                overview.status == .ok && overview.text.contains("data-submit-on-change"),
                "the organization switcher is there")
            expectSecurityHeaders(overview, "the overview")
            expectSecurityHeaders(try await client.send(.get, "/events/missing", browser: &b), "a 404 page")
            expectSecurityHeaders(
                try await client.send(.get, "/settings/nothing", browser: &b), "a JSON error of a page route")
            expectSecurityHeaders(try await client.send(.get, "/settings", browser: &b), "a redirect to a page")

            // The one inline script is allowed by its hash, computed here from the bytes the page carries.
            let csp = overview.headers[.init("Content-Security-Policy")!] ?? ""
            let scripts = inlineScripts(overview.text)
            #expect(scripts.count == 1)
            for script in scripts {
                let hash = "'sha256-" + Data(SHA256.hash(data: Data(script.utf8))).base64EncodedString() + "'"
                #expect(csp.contains(hash), "the CSP \(csp) does not allow the inline script \(script)")
            }
            // Inline handlers would be blocked by that policy: the pages have none.
            for path in [
                "/", "/usage", "/events", "/reconciliation", "/settings/providers", "/settings/members", "/login",
            ] {
                let page = try await client.send(.get, path, browser: &b)
                #expect(
                    page.text.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil,
                    "\(path) has an inline handler")
                #expect(page.text.range(of: "javascript:") == nil, "\(path)")
            }
        }
    }

    // MARK: Item 11: every page requires what its API requires

    /// Each GET page route, with the API call that reads the same data. The walk fails on a page route missing here.
    static let pageAPIs: [String: String] = [
        "/": "/api/v1/usage/summary",
        "/usage": "/api/v1/usage/summary",
        "/usage/export": "/api/v1/usage/summary",
        "/events": "/api/v1/events",
        "/events/live": "/api/v1/events",
        "/events/:id": "/api/v1/events/:id",
        "/reconciliation": "/api/v1/reconciliation",
        "/settings": "/api/v1/organization",
        "/settings/providers": "/api/v1/provider-connections",
        "/budgets": "/api/v1/budgets",
        "/alerts": "/api/v1/alerts",
        "/forecast": "/api/v1/forecast",
        "/insights": "/api/v1/insights",
        "/statements": "/api/v1/statements",
        "/performance": "/api/v1/usage/performance",
        // Members and admins send; a viewer sees the page say so. Connections are named for admins only.
        "/playground": "/api/v1/projects",
        "/settings/alert-channels": "/api/v1/alert-channels",
        "/settings/policies": "/api/v1/policies",
        "/settings/projects": "/api/v1/projects",
        "/settings/tokens": "/api/v1/tokens",
        "/settings/members": "/api/v1/members",
        "/settings/prices": "/api/v1/prices",
        "/settings/organization": "/api/v1/organization",
        // The person's own account (issue 23): anyone signed in, as /api/v1/me.
        "/account": "/api/v1/me",
        "/account/two-factor": "/api/v1/me",
    ]
    /// Pages for people who are not signed in, and what is not a page.
    static let notPages: Set<String> = [
        "/login", "/setup", "/invites/:secret", "/healthz", "/readyz", "/metrics",
        "/assets/tally.css", "/assets/tally.js",
        // The playground's JSON call for its model list (PlaygroundAPITests).
        "/playground/models",
        // Sign-in, round 2 (issue 23): the steps before a session exists.
        "/login/two-factor", "/login/sso/:provider", "/login/sso/:provider/callback", "/password/forgot",
        "/password/reset/:secret", "/signup", "/verify-email/:secret",
    ]

    @Test func everyPageAnswersEachRoleAsItsAPIDoes() async throws {
        var f = try await AccountsFixture.make()
        f.options.liveStreamSeconds = 1
        let token = try await DashboardHTTPTests().signedInOwner(f)
        _ = try await f.member("vi@example.com", .viewer)
        _ = try await f.member("me@example.com", .member)
        let vault = try #require(f.options.vault)
        let now = Instant.now
        try await f.store.createConnection(
            ProviderConnection(
                id: "conn_secret", organizationID: "org_default", provider: .openai,
                name: "connection-name-only-admins-see", baseURL: nil,
                apiKey: try vault.seal(
                    "sk-abc-123456789", organizationID: "org_default", connectionID: "conn_secret", field: .apiKey),
                apiKeyMask: "sk-…6789", adminKey: nil, adminKeyMask: nil, validatedAt: nil, validationError: nil,
                createdAt: now, updatedAt: now),
            audit: .make(organizationID: "org_default", actor: "t", action: "connection.create"))

        let router = buildRouter(store: f.store, logger: Logger(label: "test"), options: f.options)
        let pages = router.routes.filter { $0.method == .get }.map { route -> String in
            "/"
                + route.path.description.split(separator: "/").map { s in
                    s.hasPrefix("{") && s.hasSuffix("}") ? ":" + s.dropFirst().dropLast() : String(s)
                }.joined(separator: "/")
        }.filter { !$0.hasPrefix("/api/") && !$0.hasPrefix("/gateway/") && !Self.notPages.contains($0) }
        #expect(pages.count >= 9)

        try await f.app().test(.router) { client in
            try await DashboardHTTPTests().post(client, token, DashboardHTTPTests().events())
            var refused = 0
            for email in ["vi@example.com", "me@example.com"] {
                var b = try await client.signIn(email)
                for page in Set(pages) {
                    let paths =
                        page == "/settings/:tab"
                        ? SettingsPages.Tab.allCases.map { "/settings/" + $0.rawValue } : [page]
                    for path in paths {
                        guard let api = Self.pageAPIs[path] else {
                            Issue.record("no API for the page \(path): add it to WebSecurityTests.pageAPIs")
                            continue
                        }
                        let expected = try await client.send(
                            .get, api.replacingOccurrences(of: ":id", with: "a1"), browser: &b
                        ).status
                        let reply = try await client.send(
                            .get, path.replacingOccurrences(of: ":id", with: "a1"), browser: &b)
                        if expected == .ok {
                            #expect(
                                reply.status == .ok || reply.status == .seeOther,
                                "\(email) \(path): the API answers 200, the page \(reply.status)")
                        } else {
                            refused += 1
                            #expect(
                                reply.status == expected,
                                "\(email) \(path): the API answers \(expected), the page \(reply.status)")
                            #expect(
                                !reply.text.contains("connection-name-only-admins-see"),
                                "\(email) \(path) shows what its API refuses")
                        }
                    }
                }
            }
            #expect(refused >= 2, "viewers and members are refused at least the provider connections")
            // The navigation sends viewers and members to a settings tab they may open, and lists only those.
            var viewer = try await client.signIn("vi@example.com")
            let settings = try await client.send(.get, "/settings", browser: &viewer)
            #expect(settings.headers[.location] == "/settings/projects")
            let projects = try await client.send(.get, "/settings/projects", browser: &viewer)
            #expect(!projects.text.contains(#"href="/settings/providers""#))
            var owner = try await client.signIn("ada@example.com")
            #expect(
                try await client.send(.get, "/settings", browser: &owner).headers[.location] == "/settings/providers")
            let providers = try await client.send(.get, "/settings/providers", browser: &owner)
            #expect(providers.status == .ok && providers.text.contains("connection-name-only-admins-see"))
        }
    }

    // MARK: Item 11: /metrics behind TALLY_METRICS_TOKEN

    @Test func metricsNeedTheTokenWhenOneIsSet() async throws {
        var f = try await AccountsFixture.make()
        f.options.metricsToken = "metrics-token-0123456789abcdef"
        try await f.app().test(.router) { client in
            var b = Browser()
            let none = try await client.send(.get, "/metrics", browser: &b)
            #expect(none.status == .unauthorized && none.errorCode == "unauthorized")
            #expect(none.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(!none.text.contains("metrics-token-0123456789abcdef"))
            for wrong in [
                "Bearer metrics-token-0123456789abcdeX", "Bearer metrics-token", "Basic bWV0cmljcw==",
                "metrics-token-0123456789abcdef",
            ] {
                let reply = try await client.send(.get, "/metrics", browser: &b, extra: [.authorization: wrong])
                #expect(reply.status == .unauthorized, "\(wrong)")
            }
            let right = try await client.send(
                .get, "/metrics", browser: &b, extra: [.authorization: "Bearer metrics-token-0123456789abcdef"])
            #expect(right.status == .ok && right.headers[.contentType]?.hasPrefix("text/plain") == true)
        }
        // Unset: open as before.
        let open = try await AccountsFixture.make()
        try await open.app().test(.router) { client in
            var b = Browser()
            let reply = try await client.send(.get, "/metrics", browser: &b)
            #expect(reply.status == .ok)
        }
    }

    @Test func metricsTokenIsValidatedWithoutEchoingIt() throws {
        let config = try TallyConfig.load(
            environment: ["TALLY_METRICS_TOKEN": "metrics-token-0123456789abcdef"], flags: [:])
        #expect(config.metricsToken == "metrics-token-0123456789abcdef")
        #expect(try TallyConfig.load(environment: [:], flags: [:]).metricsToken == nil)
        for bad in ["short-secret", "has a space in it 0123456789"] {
            do {
                _ = try TallyConfig.load(environment: ["TALLY_METRICS_TOKEN": bad], flags: [:])
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.source == "TALLY_METRICS_TOKEN" && !error.description.contains(bad))
            }
        }
    }

    // MARK: Item 11: live streams, at most 4 per session, ended by signing out

    @Test func liveStreamsAreCappedPerSessionAndEndWithTheSession() async throws {
        var f = try await AccountsFixture.make()
        f.options.liveStreamSeconds = 60
        _ = try await DashboardHTTPTests().signedInOwner(f)
        try await f.app().test(.router) { client in
            let b = try await client.signIn("ada@example.com")
            let started = ContinuousClock.now
            let streams = (0..<4).map { _ in
                Task {
                    var mine = b
                    return try await client.send(.get, "/events/live", browser: &mine)
                }
            }
            try await Task.sleep(for: .milliseconds(1500))
            var fifth = b
            let refused = try await client.send(.get, "/events/live", browser: &fifth)
            #expect(
                refused.status == .tooManyRequests && refused.errorCode == "too_many_streams",
                "\(refused.status) \(refused.text)")
            // Another session of the same person has its own four.
            let other = try await client.signIn("ada@example.com")
            let otherStream = Task {
                var mine = other
                return try await client.send(.get, "/events/live", browser: &mine)
            }

            var out = b
            #expect(
                try await client.send(.post, "/logout", browser: &out, form: form([("_csrf", b.csrf ?? "")])).status
                    == .seeOther)
            for stream in streams {
                let reply = try await stream.value
                #expect(reply.status == .ok && reply.text.hasPrefix("retry: 3000"))
            }
            #expect(ContinuousClock.now - started < .seconds(15), "the streams ended with the session, not after 60 s")
            var otherOut = other
            #expect(
                try await client.send(.post, "/logout", browser: &otherOut, form: form([("_csrf", other.csrf ?? "")]))
                    .status == .seeOther)
            #expect(try await otherStream.value.status == .ok, "the other session's stream was not refused")
            // Ended streams give their places back: the slots of a closed stream are released.
            let streamsCounter = LiveStreams(perSession: 4)
            var slots = (0..<4).compactMap { _ in streamsCounter.claim(session: "s") }
            #expect(slots.count == 4 && streamsCounter.claim(session: "s") == nil)
            slots.removeLast()
            #expect(streamsCounter.count(session: "s") == 3)
            #expect(streamsCounter.claim(session: "s") != nil, "a released place can be claimed again")
            #expect(streamsCounter.count(session: "s") == 3, "the claim above was dropped at once")
        }
    }

    // MARK: Item 11: Secure cookies when TALLY_PUBLIC_URL is https

    @Test func cookiesAreSecureWhenThePublicURLIsHTTPS() async throws {
        var f = try await AccountsFixture.make()
        f.options.publicURL = "https://tally.example.com"
        _ = try await f.member("ada@example.com", .owner)
        try await f.app().test(.router) { client in
            var b = Browser()
            // Plain http, no X-Forwarded-Proto: the public URL alone decides.
            let page = try await client.send(.get, "/login", browser: &b)
            let csrfCookie = page.headers[values: .setCookie].first { $0.hasPrefix("tally_csrf=") }
            #expect(csrfCookie?.contains("; Secure") == true, "\(csrfCookie ?? "no tally_csrf cookie")")
            let csrf = try #require(b.hidden("_csrf", in: page.text))
            let signedIn = try await client.send(
                .post, "/login", browser: &b,
                form: form([("_csrf", csrf), ("email", "ada@example.com"), ("password", "correct horse battery")]))
            let session = signedIn.headers[values: .setCookie].first { $0.hasPrefix("tally_session=") }
            #expect(
                session?.contains("; Secure") == true && session?.contains("HttpOnly") == true,
                "\(session ?? "no session cookie")")
        }
        // An http public URL and no proxy header: not Secure (the browser would never send it back).
        var plain = try await AccountsFixture.make()
        plain.options.publicURL = "http://127.0.0.1:8080"
        try await plain.app().test(.router) { client in
            var b = Browser()
            let page = try await client.send(.get, "/login", browser: &b)
            #expect(page.headers[values: .setCookie].allSatisfy { !$0.contains("Secure") })
        }
    }

    // MARK: Item 11: the data directory's files

    @Test func databaseFilesAreCreatedPrivateInAnExistingDirectory() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-perm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = TallyConfig()
        config.dataDirectory = dir
        config.database = .sqlite(path: dir + "/tally.sqlite")
        try await StoreBootstrap.withStore(config, logger: Logger(label: "test")) { store in
            try await store.migrate()
            _ = try await store.defaultOrganization(timeZone: "UTC")
        }
        for file in ["tally.sqlite", "tally.sqlite-wal", "tally.sqlite-shm"]
        where FileManager.default.fileExists(atPath: dir + "/" + file) {
            let mode = try #require(StoreBootstrap.permissions(dir + "/" + file))
            #expect(mode == 0o600, "\(file) is \(String(mode, radix: 8))")
        }
        #expect(StoreBootstrap.permissions(dir + "/tally.sqlite") == 0o600)
        // A file an earlier version left 0644 is narrowed on the next start.
        #expect(chmod(dir + "/tally.sqlite", 0o644) == 0)
        try StoreBootstrap.createPrivateDatabaseFiles(dir + "/tally.sqlite")
        #expect(StoreBootstrap.permissions(dir + "/tally.sqlite") == 0o600)
    }

    // MARK: Item 11: secrets in the request log

    @Test func theRequestLogLeavesSecretsOut() {
        #expect(
            RequestLogMiddleware<TallyRequestContext>.redacted(path: "/invites/inv_s3cret", query: nil)
                == "/invites/<redacted>")
        #expect(
            RequestLogMiddleware<TallyRequestContext>.redacted(
                path: "/gateway/google/v1beta/models/m:generateContent", query: "alt=sse&key=tly_s3cret")
                == "/gateway/google/v1beta/models/m:generateContent?alt=sse&key=<redacted>")
        #expect(
            RequestLogMiddleware<TallyRequestContext>.redacted(path: "/usage", query: "group_by=model&preset=7d")
                == "/usage?group_by=model&preset=7d")
    }
}
