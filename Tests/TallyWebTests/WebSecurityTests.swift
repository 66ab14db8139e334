import Foundation
import TallyCore
import TallyPrice
import Testing

@testable import TallyWeb

/// Issue 14, item 4: markup injection through ids and names, on the rendered pages. (The HTTP-level half, headers,
/// roles and streams, is TallyServerTests' WebSecurityTests.)
@Suite struct WebSecurityTests {
    /// Ends a double-quoted attribute, a <title> and a <script>, with a single quote for good measure.
    static let hostile = #"x'"></title><script>alert(1)</script><meta x=""#

    /// Every raw fragment of `hostile` that would make markup if it got through unescaped.
    func expectNoMarkup(_ html: String, _ page: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            !html.contains("<script>alert"), "\(page): the hostile text became a script", sourceLocation: sourceLocation
        )
        #expect(
            !html.contains("</title><script>alert"), "\(page): the hostile text ended the title",
            sourceLocation: sourceLocation)
        #expect(
            !html.contains(#""></title>"#), "\(page): the hostile text ended an attribute",
            sourceLocation: sourceLocation)
        #expect(
            !html.contains("og:title") && !html.contains("twitter:title"), "\(page): Plot's social meta tags",
            sourceLocation: sourceLocation)
    }

    func hostilePage(_ role: Role = .owner, section: Layout.Section) -> SignedInPage {
        let page = Sample.page(role, section: section)
        let header = Layout.SignedInHeader(
            userName: Self.hostile, organizationID: "org_acme",
            organizations: [("org_acme", Self.hostile), ("org_two", "Second " + Self.hostile)],
            csrf: "csrf-token", section: section)
        return SignedInPage(
            principal: page.principal, user: page.user, role: page.role, organization: page.organization,
            zone: page.zone, header: header, publicURL: page.publicURL)
    }

    // MARK: Item 4: stored XSS through the <head> and every page that shows an id or a name

    @Test func hostileEventIdsStayTextOnTheEventPagesAndTheLiveFeed() throws {
        let page = hostilePage(section: .events)
        let stored = Sample.event(Self.hostile)
        let detail = EventsPage.renderDetail(page, stored, breakdown: CatalogPricer().breakdown(stored))
        try Snapshot.check(detail, "hostile-event")
        expectNoMarkup(detail, "/events/:id")
        #expect(
            detail.contains("<title>Event x'\"&gt;&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
            "the title is the id, as text")

        let state = UsageExplorer.State(query: [:], defaultPreset: .all)
        let list = EventsPage.render(
            page,
            EventsPage.Model(
                state: state, events: [stored], next: nil, isFirstPage: true,
                filterQuery: EventsPage.filterQuery(state)))
        try Snapshot.check(list, "hostile-events")
        expectNoMarkup(list, "/events")
        expectNoMarkup(EventsPage.rowHTML(stored, zone: Sample.zone, sequence: 1), "/events/live")
    }

    @Test func hostileOrganizationNamesStayTextOnTheInvitePage() throws {
        let invite = Invite(
            id: "inv_1", organizationID: "org_acme", email: "cy@example.com", role: .member, createdBy: "usr_ada",
            createdAt: Sample.now, expiresAt: Sample.now.adding(seconds: 86_400))
        let html = AccountPages.invite(
            csrf: "c", secret: "inv_secret", invite: invite, organizationName: Self.hostile, signedIn: nil)
        try Snapshot.check(html, "hostile-invite")
        expectNoMarkup(html, "/invites/:secret")
        #expect(html.contains("<title>Join x'\"&gt;&lt;/title&gt;"))
    }

    @Test func hostileNamesStayTextOnEverySettingsPageAndInTheHeader() throws {
        let page = hostilePage(section: .settings)
        let now = Sample.now
        let connection = ProviderConnection(
            id: "conn_1", organizationID: "org_acme", provider: .openai, name: Self.hostile,
            baseURL: nil, apiKey: nil, apiKeyMask: "sk-…a1b2", adminKey: nil, adminKeyMask: nil,
            validatedAt: nil, validationError: Self.hostile, createdAt: now, updatedAt: now)
        let projects = [Project(id: "prj_1", organizationID: "org_acme", name: Self.hostile, createdAt: now)]
        let token = APIToken(
            id: "tok_1", organizationID: "org_acme", projectID: "prj_1", projectName: Self.hostile, name: Self.hostile,
            scopes: [.ingest], hint: "x9y8", createdAt: now, createdBy: "usr_ada")
        let evil = User(id: "usr_evil", email: "evil@example.com", name: Self.hostile, createdAt: now)
        let members = [Membership(organization: Sample.organization, user: evil, role: .member, joinedAt: now)]
        let invite = Invite(
            id: "inv_1", organizationID: "org_acme", email: "cy@example.com", role: .member, createdBy: "usr_ada",
            createdAt: now, expiresAt: now.adding(seconds: 86_400))
        let pages = [
            ("providers", SettingsPages.providers(page, connections: [connection], vaultReady: true)),
            ("projects", SettingsPages.projects(page, projects: projects)),
            (
                "tokens",
                SettingsPages.tokens(page, tokens: [token], projects: projects, creators: ["usr_ada": Self.hostile])
            ),
            ("members", SettingsPages.members(page, members: members, invites: [invite])),
            ("organization", SettingsPages.organization(page, rules: OrganizationSignInRules(requireTwoFactor: true))),
            ("failure", AccountPages.failure(page.header, title: Self.hostile, Self.hostile)),
            ("message", AccountPages.message(title: Self.hostile, Self.hostile)),
        ]
        for (name, html) in pages { expectNoMarkup(html, name) }
        try Snapshot.check(pages[0].1, "hostile-settings-providers")
    }
}
