import Plot
import TallyCore

/// The person's own account (issue 23): how they sign in (linked identities, two-factor), not an organization's.
package enum AccountPage {
    package struct Model {
        package var email: String
        package var emailVerified: Bool
        package var identities: [LinkedIdentity]
        package var twoFactorEnabled: Bool
        package var unusedRecoveryCodes: Int
        /// Providers the person may link: (route name, label).
        package var providers: [(name: String, label: String)]
        package var notice: String?

        package init(
            email: String, emailVerified: Bool, identities: [LinkedIdentity], twoFactorEnabled: Bool,
            unusedRecoveryCodes: Int, providers: [(name: String, label: String)], notice: String? = nil
        ) {
            self.email = email
            self.emailVerified = emailVerified
            self.identities = identities
            self.twoFactorEnabled = twoFactorEnabled
            self.unusedRecoveryCodes = unusedRecoveryCodes
            self.providers = providers
            self.notice = notice
        }
    }

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        let csrf = page.header.csrf
        return Layout.page(
            title: "Your account", signedIn: page.header,
            .h1("Your account"),
            AccountPages.notice(m.notice),
            .section(
                .class("card"),
                .h2("Email"),
                .p(
                    .text(m.email + " "),
                    .span(
                        .id("email-status"), .class(m.emailVerified ? "badge ok" : "badge warn"),
                        .text(m.emailVerified ? "verified" : "not verified"))),
                .if(
                    !m.emailVerified,
                    .form(
                        .method(.post), .action("/account/verify-email"), Layout.csrfField(csrf),
                        .button(.type(.submit), "Send the verification link again")))),
            .section(
                .class("card"),
                .h2("Single sign-on"),
                .if(
                    m.identities.isEmpty, .p(.class("muted"), "No identity is linked to your account."),
                    else: .table(
                        .id("identities"),
                        .thead(.tr(.th("Provider"), .th("Email"), .th("Linked"), .th("Last used"), .th())),
                        .tbody(
                            .forEach(m.identities) { i in
                                .tr(
                                    .attribute(named: "data-identity", value: i.id),
                                    .td(.text(i.provider)), .td(.text(i.email ?? "")),
                                    .td(.text(Format.localTime(i.createdAt, zone: page.zone))),
                                    .td(.text(i.lastUsedAt.map { Format.localTime($0, zone: page.zone) } ?? "")),
                                    .td(
                                        .form(
                                            .method(.post), .action("/account/identities/\(i.id)/unlink"),
                                            Layout.csrfField(csrf),
                                            .button(.class("link"), .type(.submit), "Unlink"))))
                            }))),
                .forEach(m.providers) { p in
                    .a(
                        .class("button secondary"), .href("/login/sso/\(p.name)?link=1"),
                        .text("Link \(p.label)"))
                }),
            .section(
                .class("card"),
                .h2("Two-factor authentication"),
                .if(
                    m.twoFactorEnabled,
                    .group(
                        .p(
                            .id("two-factor-status"),
                            .text("On. \(m.unusedRecoveryCodes) of 10 recovery codes left.")),
                        .form(
                            .method(.post), .action("/account/two-factor/disable"), Layout.csrfField(csrf),
                            Layout.field("Current code", name: "code", type: .text, autocomplete: "one-time-code"),
                            .button(.type(.submit), "Turn two-factor off"))),
                    else: .group(
                        .p(.id("two-factor-status"), "Off."),
                        .a(.class("button"), .href("/account/two-factor"), "Set up two-factor")))))
    }

    /// Enrolment: the QR code of the `otpauth://` URI, the secret to type by hand, and the confirming code.
    package static func enrol(
        _ page: SignedInPage, secret: String, qrSVG: String, required: Bool, error: String? = nil
    ) -> String {
        Layout.page(
            title: "Set up two-factor", signedIn: page.header,
            .h1("Set up two-factor authentication"),
            .if(
                required,
                AccountPages.notice("Your organization requires two-factor authentication: set it up to continue.")),
            .section(
                .class("card narrow"),
                .p("Scan this code with an authenticator app (1Password, Google Authenticator, Authy…):"),
                .div(.class("qr-frame"), .raw(qrSVG)),
                .p(.class("muted"), .text("Or type this key: "), .code(.id("totp-secret"), .text(secret))),
                .form(
                    .method(.post), .action("/account/two-factor"), Layout.csrfField(page.header.csrf),
                    Layout.field(
                        "The 6-digit code it shows", name: "code", type: .text, error: error,
                        autocomplete: "one-time-code"),
                    .button(.type(.submit), "Turn on two-factor"))))
    }

    package static func recoveryCodes(_ page: SignedInPage, codes: [String]) -> String {
        Layout.page(
            title: "Recovery codes", signedIn: page.header,
            .h1("Two-factor is on"),
            .section(
                .class("card narrow"),
                .p(
                    .text(
                        "Keep these recovery codes somewhere safe. Each signs you in once if you lose your device. "
                            + "They are shown only now.")),
                .ul(.id("recovery-codes"), .forEach(codes) { .li(.code(.text($0))) }),
                .a(.class("button"), .href("/account"), "Done")))
    }
}
