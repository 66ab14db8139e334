import Plot
import TallyCore

/// Sign-in, round 2 (issue 23): the second step, forgotten passwords, open sign-up, single sign-on's refusals.
package enum SignInPages {
    /// The single sign-on buttons of the sign-in page: links, so they work without script.
    package static func ssoButtons(_ buttons: [(name: String, label: String)], next: String) -> Node<HTML.BodyContext> {
        .if(
            !buttons.isEmpty,
            .div(
                .class("sso"),
                .forEach(buttons) { b in
                    .a(
                        .class("button secondary"), .attribute(named: "data-sso", value: b.name),
                        .href("/login/sso/\(b.name)" + (next.isEmpty ? "" : "?next=" + URLText.percentEncoded(next))),
                        .text("Sign in with \(b.label)"))
                },
                .p(.class("muted"), "or with your email and password")))
    }

    package static func secondFactor(csrf: String, notice: String? = nil) -> String {
        Layout.page(
            title: "Two-factor check",
            .div(
                .class("narrow card"),
                .h1("Two-factor check"),
                .p(.class("muted"), "Enter the 6-digit code your authenticator app shows for Tally."),
                AccountPages.notice(notice),
                .form(
                    .method(.post), .action("/login/two-factor"),
                    Layout.csrfField(csrf),
                    Layout.field("Code", name: "code", type: .text, autocomplete: "one-time-code"),
                    .button(.type(.submit), "Verify")),
                .details(
                    .summary("Lost your device? Use a recovery code"),
                    .form(
                        .method(.post), .action("/login/two-factor"),
                        Layout.csrfField(csrf),
                        Layout.field("Recovery code", name: "recovery_code", type: .text, autocomplete: "off"),
                        .button(.type(.submit), "Use recovery code")))))
    }

    package static func forgot(csrf: String, canMail: Bool, sent: Bool = false, notice: String? = nil) -> String {
        Layout.page(
            title: "Forgot password",
            .div(
                .class("narrow card"),
                .h1("Forgot your password?"),
                AccountPages.notice(notice),
                .if(
                    !canMail,
                    .p("Tally cannot send mail here (no SMTP server is set). Ask an owner of your organization."),
                    else: .if(
                        sent,
                        .p(
                            .id("reset-sent"),
                            .text(
                                "If that address has a Tally account, a link to choose a new password is on its "
                                    + "way. It works once, for one hour.")),
                        else: .form(
                            .method(.post), .action("/password/forgot"),
                            Layout.csrfField(csrf),
                            Layout.field("Email", name: "email", type: .email, autocomplete: "username"),
                            .button(.type(.submit), "Send reset link")))),
                .p(.a(.href("/login"), "Back to sign in"))))
    }

    package static func reset(csrf: String, secret: String, error: String? = nil, notice: String? = nil) -> String {
        Layout.page(
            title: "Choose a new password",
            .div(
                .class("narrow card"),
                .h1("Choose a new password"),
                AccountPages.notice(notice),
                .form(
                    .method(.post), .action("/password/reset/" + secret),
                    Layout.csrfField(csrf),
                    Layout.field(
                        "New password (12 characters or more)", name: "password", type: .password, error: error,
                        autocomplete: "new-password"),
                    .button(.type(.submit), "Set password")),
                .p(.class("muted"), "Every device signed in to your account will be signed out.")))
    }

    package static func signUp(csrf: String, state: AccountPages.FormState = AccountPages.FormState()) -> String {
        Layout.page(
            title: "Create your Tally account",
            .div(
                .class("narrow card"),
                .h1("Create your Tally account"),
                AccountPages.notice(state.notice),
                .form(
                    .method(.post), .action("/signup"),
                    Layout.csrfField(csrf),
                    AccountPages.newAccountFields(state),
                    Layout.field(
                        "Organization", name: "organization", type: .text, value: state.values["organization"] ?? "",
                        error: state.errors["organization"], autocomplete: "organization"),
                    .button(.type(.submit), "Create account")),
                .p(.class("muted"), .text("Already have an account? "), .a(.href("/login"), "Sign in"))))
    }

    /// Why single sign-on did not sign the person in: the reason in plain words, and a way back.
    package static func ssoRefused(_ reason: String) -> String {
        Layout.page(
            title: "Sign-in refused",
            .div(
                .class("narrow card"),
                .h1("Sign-in refused"),
                .p(.id("sso-error"), .text(reason)),
                .p(.a(.href("/login"), "Back to sign in"))))
    }
}
