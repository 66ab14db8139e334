import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Issue 23's API: the signed-in person's linked identities, and the organization's sign-in rules.
struct SignInAPIController<Store: AuthenticationStore & AccountServiceStore> {
    let auth: Authenticator<Store>
    let accounts: AccountService<Store>
    let sso: SingleSignOn<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("account/identities", use: identities)
        group.delete("account/identities/:id", use: unlink)
        group.get("organization/sign-in", use: rules)
        group.put("organization/sign-in", use: setRules)
    }

    @Sendable func identities(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        let list = try await sso.identities(principal)
        return .json(
            ListJSON.list(list) { i, w in
                w.beginObject()
                w.field("id", i.id)
                w.field("provider", i.provider)
                w.field("issuer", i.issuer)
                w.field("subject", i.subject)
                w.field("email", i.email)
                w.field("created_at", AccountJSON.time(i.createdAt))
                w.field("last_used_at", AccountJSON.time(i.lastUsedAt))
                w.endObject()
            })
    }

    @Sendable func unlink(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        try await sso.unlink(principal, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func rules(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        return .json(Self.json(try await accounts.signInRules(principal), ssoAvailable: sso.isConfigured))
    }

    @Sendable func setRules(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        let fields = try JSONFields(try await JSONBody.read(request), allowed: ["require_sso", "require_two_factor"])
        var rules = try await accounts.signInRules(principal)
        if let v = try fields.bool("require_sso") { rules.requireSSO = v }
        if let v = try fields.bool("require_two_factor") { rules.requireTwoFactor = v }
        try await accounts.setSignInRules(principal, rules, ssoAvailable: sso.isConfigured)
        return .json(Self.json(rules, ssoAvailable: sso.isConfigured))
    }

    static func json(_ rules: OrganizationSignInRules, ssoAvailable: Bool) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("require_sso", rules.requireSSO)
        w.field("require_two_factor", rules.requireTwoFactor)
        w.field("sso_available", ssoAvailable)
        w.endObject()
        return w.text
    }
}
