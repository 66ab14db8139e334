import TallyCore

/// An organization's sign-in rules (issue 23): whether its members must use single sign-on, and two-factor.
extension AccountService {
    public func signInRules(_ principal: Principal) async throws -> OrganizationSignInRules {
        guard principal.allows(.editOrganization) else {
            throw TallyError.forbidden("only admins and owners can read the organization's sign-in rules")
        }
        return try await store.signInRules(organizationID: principal.organizationID)
    }

    /// Only a signed-in owner changes them: they decide who can get in, which no token should. `ssoAvailable`: the
    /// server has a single sign-on provider, without which requiring it would lock the members out.
    public func setSignInRules(_ principal: Principal, _ rules: OrganizationSignInRules, ssoAvailable: Bool)
        async throws
    {
        guard let user = principal.user, principal.role == .owner else {
            throw TallyError.forbidden("only a signed-in owner can change how members sign in")
        }
        if rules.requireSSO, !ssoAvailable {
            throw TallyError.invalid([
                FieldProblem(
                    field: "require_sso",
                    reason:
                        "needs a single sign-on provider configured on the server (TALLY_OIDC_*, TALLY_GOOGLE_*, TALLY_GITHUB_*)"
                )
            ])
        }
        let before = try await store.signInRules(organizationID: principal.organizationID)
        guard before != rules else { return }
        try await store.setSignInRules(organizationID: principal.organizationID, rules)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: "user:\(user.email)", action: "organization.sign_in",
                detail: [
                    ("require_sso", .bool(rules.requireSSO)), ("require_two_factor", .bool(rules.requireTwoFactor)),
                ]))
    }
}
