import Plot
import TallyCore

/// Settings → Members: who belongs to the organization with which role, and the pending invites (admins only).
extension SettingsPages {
    package enum MembersTab {
        package struct Model: Sendable {
            package var members: [Membership]
            package var invites: [Invite]
        }

        package static func load(store: some AccountStore & InviteStore, page: SignedInPage) async throws -> Model {
            let org = page.organization.id
            return Model(
                members: try await store.members(organizationID: org),
                invites: page.allows(.manageMembers) ? try await store.invites(organizationID: org) : [])
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.members(page, members: m.members, invites: m.invites)
        }
    }

    package static func members(_ page: SignedInPage, members: [Membership], invites: [Invite]) -> String {
        let admin = page.allows(.manageMembers)
        let roles = Role.allCases.reversed().map { ($0.rawValue, $0.rawValue) }
        let pending = invites.filter { $0.acceptedAt == nil && $0.revokedAt == nil && $0.expiresAt > .now }
        return self.page(
            page, .members,
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "members-heading"),
                .h2(.id("members-heading"), "Members"),
                .p(
                    .class("muted"),
                    "viewer: reads usage · member: also ingests and has own tokens · admin: manages keys, projects, prices and people · owner: also deletes or transfers the organization."
                ),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("members"),
                        .thead(
                            .tr(
                                .th("Name"), .th("Email"), .th("Role"), .th(.class("hide-narrow"), "Joined"),
                                .th("Actions"))),
                        .tbody(
                            .forEach(members) { m in
                                .tr(
                                    .data(named: "user-id", value: m.user.id),
                                    .td(.text(m.user.name)), .td(.text(m.user.email)), .td(.text(m.role.rawValue)),
                                    .td(.class("hide-narrow"), .text(Format.localTime(m.joinedAt, zone: page.zone))),
                                    .td(
                                        .if(
                                            admin && m.user.id != page.user.id,
                                            .div(
                                                .class("actions"),
                                                .element(
                                                    named: "details",
                                                    nodes: [
                                                        .element(named: "summary", text: "Change role"),
                                                        apiForm(
                                                            "role-\(m.user.id)", "PATCH /api/v1/members/\(m.user.id)",
                                                            submit: "Save role",
                                                            select(
                                                                "role-\(m.user.id)", "Role", name: "role", roles,
                                                                selected: m.role.rawValue)),
                                                    ]),
                                                actionButton(
                                                    "Remove", api: "DELETE /api/v1/members/\(m.user.id)",
                                                    confirm: "Remove \(m.user.email) from this organization?",
                                                    danger: true, action: "remove")),
                                            else: .text(m.user.id == page.user.id ? "you" : "—"))))
                            })))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "invites-heading"),
                .h2(.id("invites-heading"), "Invites"),
                .if(
                    pending.isEmpty, .p(.class("muted"), "No pending invites."),
                    else:
                        .div(
                            .class("table-wrap"),
                            .table(
                                .id("invites"),
                                .thead(.tr(.th("Email"), .th("Role"), .th("Expires"), .th("Actions"))),
                                .tbody(
                                    .forEach(pending) { i in
                                        .tr(
                                            .data(named: "invite-id", value: i.id), .td(.text(i.email)),
                                            .td(.text(i.role.rawValue)),
                                            .td(.text(Format.localTime(i.expiresAt, zone: page.zone))),
                                            .td(
                                                .if(
                                                    admin,
                                                    actionButton(
                                                        "Revoke", api: "DELETE /api/v1/invites/\(i.id)", danger: true,
                                                        action: "revoke"))))
                                    })))),
                .if(
                    admin,
                    .group(
                        .h2("Invite someone"),
                        apiForm(
                            "invite", "POST /api/v1/invites", submit: "Send invite",
                            field(
                                "invite", "Email", name: "email", type: .email, required: true, autocomplete: "email"),
                            select(
                                "invite", "Role", name: "role", roles.filter { $0.0 != "owner" }, selected: "member"),
                            .p(
                                .class("muted small"),
                                "The link works once, for 7 days. It is mailed when TALLY_SMTP_URL is set; otherwise copy it from the API answer."
                            ))),
                    else: onlyFor(.admin, "invite people")))
        )
    }
}
