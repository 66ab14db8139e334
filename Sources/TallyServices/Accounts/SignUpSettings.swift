import TallyCore

/// How accounts come to be besides invites (issue 23): `TALLY_SIGNUP` for passwords, `TALLY_OIDC_*` for single
/// sign-on (the same rules for the OIDC provider, Google and GitHub).
public struct SignUpSettings: Sendable, Equatable {
    public enum PasswordSignUp: String, Sendable, CaseIterable {
        /// Only through an invite (the default, as before).
        case invite
        /// Anyone can create an account, which gets an organization of its own.
        case open
    }

    public enum SSOSignUp: String, Sendable, CaseIterable {
        /// Single sign-on signs in existing accounts only.
        case off
        /// A new account only for an address with a pending invite, which it accepts.
        case invite
        /// Anyone the provider vouches for gets an account in the default organization.
        case open
    }

    public var passwords: PasswordSignUp
    public var sso: SSOSignUp
    /// `TALLY_OIDC_DEFAULT_ORGANIZATION`: an organization's id or name; nil: a new account's own organization.
    public var defaultOrganization: String?
    public var defaultRole: Role
    /// Lower-cased domains; empty: any.
    public var allowedDomains: [String]

    public init(
        passwords: PasswordSignUp = .invite, sso: SSOSignUp = .invite, defaultOrganization: String? = nil,
        defaultRole: Role = .viewer, allowedDomains: [String] = []
    ) {
        self.passwords = passwords
        self.sso = sso
        self.defaultOrganization = defaultOrganization
        self.defaultRole = defaultRole
        self.allowedDomains = allowedDomains.map { $0.lowercased() }
    }

    /// Whether single sign-on may bring in this address (the domain after the last `@`).
    public func allows(email: String) -> Bool {
        guard !allowedDomains.isEmpty else { return true }
        guard let at = email.lastIndex(of: "@") else { return false }
        return allowedDomains.contains(String(email[email.index(after: at)...]).lowercased())
    }
}
