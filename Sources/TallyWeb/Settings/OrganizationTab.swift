import Plot
import TallyCore

/// Settings → Organization: its name, time zone and billing day (admins edit them), and the person's own password.
/// Everything it shows is in the signed-in page already: no query.
extension SettingsPages {
    package enum OrganizationTab {
        package static func render(_ page: SignedInPage) -> String {
            SettingsPages.organization(page)
        }
    }

    package static func organization(_ page: SignedInPage) -> String {
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
