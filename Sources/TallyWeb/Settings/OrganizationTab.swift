import Plot
import TallyCore

/// Settings → Organization: its name, time zone and billing day (admins edit them), and the person's own password.
/// Owners also set how members sign in (issue 23); the rules are the one thing it reads besides the signed-in page.
extension SettingsPages {
    package enum OrganizationTab {
        package static func render(_ page: SignedInPage, rules: OrganizationSignInRules = OrganizationSignInRules())
            -> String
        {
            SettingsPages.organization(page, rules: rules)
        }
    }

    /// A checkbox sent as JSON `true`/`false`.
    static func toggle(_ name: String, _ label: String, on: Bool) -> Node<HTML.FormContext> {
        .div(
            .label(
                .class("check"),
                on
                    ? .input(
                        .type(.checkbox), .name(name), .data(named: "kind", value: "bool"),
                        .attribute(named: "checked", value: "checked"))
                    : .input(.type(.checkbox), .name(name), .data(named: "kind", value: "bool")),
                .text(label)))
    }

    package static func organization(_ page: SignedInPage, rules: OrganizationSignInRules) -> String {
        let org = page.organization
        let admin = page.allows(.editOrganization)
        return self.page(
            page, .organization,
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "org-heading"),
                .h2(.id("org-heading"), "Organization"),
                .if(
                    admin,
                    apiForm(
                        "organization", "PATCH /api/v1/organization", submit: "Save",
                        field("organization", "Name", name: "name", value: org.name, required: true),
                        field(
                            "organization", "Time zone", name: "time_zone", value: org.timeZone,
                            hint:
                                "An IANA name such as Europe/Berlin or America/New_York: days, months and cycles follow it.",
                            required: true),
                        field(
                            "organization", "Billing cycle starts on day", name: "billing_cycle_day", type: .number,
                            value: String(org.billingCycleDay),
                            hint: "1-28: the day of the month your provider invoices start.",
                            required: true, kind: "int")),
                    else: .group(
                        .p(.text("Name: \(org.name)")), .p(.text("Time zone: \(org.timeZone)")),
                        .p(.text("Billing cycle starts on day \(org.billingCycleDay)")),
                        onlyFor(.admin, "change these")))),
            .if(
                page.role == .owner,
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "sign-in-heading"),
                    .h2(.id("sign-in-heading"), "Sign-in"),
                    apiForm(
                        "sign-in-rules", "PUT /api/v1/organization/sign-in", submit: "Save",
                        toggle(
                            "require_two_factor", "Members must use two-factor authentication",
                            on: rules.requireTwoFactor),
                        toggle(
                            "require_sso", "Members must sign in with single sign-on (owners keep their password)",
                            on: rules.requireSSO)))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "you-heading"),
                .h2(.id("you-heading"), "You"),
                .p(.text("\(page.user.name) <\(page.user.email)>, \(page.role.rawValue) of \(org.name).")),
                apiForm(
                    "password", "POST /api/v1/me/password", submit: "Change password",
                    field(
                        "password", "Current password", name: "current_password", type: .password, required: true,
                        autocomplete: "current-password"),
                    field(
                        "password", "New password (12 characters or more)", name: "new_password", type: .password,
                        required: true,
                        autocomplete: "new-password")))
        )
    }
}
