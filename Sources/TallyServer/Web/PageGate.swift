import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// Resolves the session behind a page request; nil sends the person to sign in (or to first-run set-up).
/// It reads the session, the organization and the person's memberships: nothing else of the store.
struct PageGate<Store: AuthenticationStore & AccountServiceStore>: Sendable {
    let store: Store
    let auth: Authenticator<Store>
    let accounts: AccountService<Store>
    let publicURL: String

    enum Outcome {
        case page(SignedInPage)
        case redirect(Response)
    }

    /// `enforceTwoFactor` false: the account pages, which a person must reach to enrol when an organization of theirs
    /// requires two-factor (every other page sends them there first).
    func open(_ request: Request, section: Layout.Section, enforceTwoFactor: Bool = true) async throws -> Outcome {
        if try await accounts.needsSetup() { return .redirect(.seeOther("/setup")) }
        guard let principal = try await auth.session(request),
            case .user(let user, let role, let session) = principal.kind,
            let org = try await store.organization(id: session.organizationID)
        else {
            let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            return .redirect(.seeOther(next == "/" ? "/login" : "/login?next=" + URLText.percentEncoded(next)))
        }
        if enforceTwoFactor, try await accounts.mustEnrollTwoFactor(userID: user.id) {
            return .redirect(.seeOther("/account/two-factor"))
        }
        let orgs = try await store.memberships(userID: user.id).map {
            (id: $0.organization.id, name: $0.organization.name)
        }
        let settings = SettingsPages.Tab.allCases.first { role.allows($0.permission) } ?? .organization
        let header = Layout.SignedInHeader(
            userName: user.name, organizationID: org.id, organizations: orgs,
            csrf: session.csrfToken, section: section, settingsPath: "/settings/" + settings.rawValue)
        return .page(
            SignedInPage(
                principal: principal, user: user, role: role, organization: org,
                zone: TimeZoneRules(identifier: org.timeZone) ?? .utc, header: header,
                publicURL: publicURL))
    }
}
