import TallyCore

/// Who is looking at a dashboard page, in which organization and time zone.
package struct SignedInPage: Sendable {
    package let principal: Principal
    package let user: User
    package let role: Role
    package let organization: Organization
    package let zone: TimeZoneRules
    package let header: Layout.SignedInHeader
    /// Where this Tally is reached, for commands shown on the pages.
    package let publicURL: String

    package init(
        principal: Principal, user: User, role: Role, organization: Organization, zone: TimeZoneRules,
        header: Layout.SignedInHeader, publicURL: String
    ) {
        self.principal = principal
        self.user = user
        self.role = role
        self.organization = organization
        self.zone = zone
        self.header = header
        self.publicURL = publicURL
    }

    package var csrf: String { header.csrf }
    package func allows(_ permission: Permission) -> Bool { role.allows(permission) }
}

extension String {
    package func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

package enum URLText {
    package static func percentEncoded(_ text: String) -> String { TextEncoding.percentEncoded(text, keeping: "/") }
}
