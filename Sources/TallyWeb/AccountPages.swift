import Plot
import TallyCore

/// First run, sign-in, invites, and the signed-in home: each a function from its model to HTML.
package enum AccountPages {
    package struct FormState {
        package var values: [String: String] = [:]
        package var errors: [String: String] = [:]
        package var notice: String?

        package init(values: [String: String] = [:], problems: [FieldProblem] = [], notice: String? = nil) {
            self.values = values
            for p in problems where errors[p.field] == nil { errors[p.field] = p.reason }
            self.notice = notice
        }
    }

    package static func notice(_ text: String?) -> Node<HTML.BodyContext> {
        .unwrap(text) { .div(.class("notice"), .attribute(named: "role", value: "alert"), .text($0)) }
    }

    package static func setup(csrf: String, state: FormState = FormState()) -> String {
        Layout.page(
            title: "Set up Tally",
            .div(
                .class("narrow card"),
                .h1("Set up Tally"),
                .p(
                    .class("muted"),
                    "Name your organization and create its owner account. You can invite others afterwards."),
                notice(state.notice),
                .form(
                    .method(.post), .action("/setup"),
                    Layout.csrfField(csrf),
                    Layout.field(
                        "Organization", name: "organization", type: .text, value: state.values["organization"] ?? "",
                        error: state.errors["organization"], autocomplete: "organization"),
                    AccountPages.newAccountFields(state),
                    .button(.type(.submit), "Create organization"))))
    }

    /// Name, email and a new password: the fields of first-run set-up and of open sign-up.
    static func newAccountFields(_ state: FormState) -> Node<HTML.FormContext> {
        .group(
            Layout.field(
                "Your name", name: "name", type: .text, value: state.values["name"] ?? "", error: state.errors["name"],
                autocomplete: "name"),
            Layout.field(
                "Email", name: "email", type: .email, value: state.values["email"] ?? "",
                error: state.errors["email"], autocomplete: "username"),
            Layout.field(
                "Password (12 characters or more)", name: "password", type: .password,
                error: state.errors["password"], autocomplete: "new-password"))
    }

    package struct SignInOptions: Sendable {
        /// Single sign-on buttons: (route name, label).
        package var sso: [(name: String, label: String)] = []
        package var canSignUp = false
        package init(sso: [(name: String, label: String)] = [], canSignUp: Bool = false) {
            self.sso = sso
            self.canSignUp = canSignUp
        }
    }

    package static func login(
        csrf: String, email: String = "", next: String = "", notice: String? = nil,
        options: SignInOptions = SignInOptions()
    ) -> String {
        Layout.page(
            title: "Sign in",
            .div(
                .class("narrow card"),
                .h1("Sign in to Tally"),
                AccountPages.notice(notice),
                SignInPages.ssoButtons(options.sso, next: next),
                .form(
                    .method(.post), .action("/login"),
                    Layout.csrfField(csrf),
                    .input(.type(.hidden), .name("next"), .value(next)),
                    Layout.field("Email", name: "email", type: .email, value: email, autocomplete: "username"),
                    Layout.field("Password", name: "password", type: .password, autocomplete: "current-password"),
                    .button(.type(.submit), "Sign in")),
                .p(
                    .class("muted"), .a(.href("/password/forgot"), "Forgot password?"),
                    .if(options.canSignUp, .group(.text(" · "), .a(.href("/signup"), "Create an account"))))))
    }

    /// The page is the same whether or not the invited email has an account, so it tells nobody which emails do.
    /// The person it was sent to, when signed in, joins with one button: a link never asks for an existing password.
    package static func invite(
        csrf: String, secret: String, invite: Invite, organizationName: String, signedIn: User?,
        state: FormState = FormState()
    ) -> String {
        let joinsAsSelf = signedIn?.email == invite.email
        return Layout.page(
            title: "Join \(organizationName)",
            .div(
                .class("narrow card"),
                .h1(.text("Join \(organizationName)")),
                .p(.class("muted"), .text("You were invited as \(invite.role.rawValue) with \(invite.email).")),
                notice(state.notice),
                .if(
                    joinsAsSelf,
                    .form(
                        .method(.post), .action("/invites/" + secret),
                        Layout.csrfField(csrf),
                        .p(.text("You are signed in as \(invite.email).")),
                        .button(.type(.submit), .text("Join \(organizationName)"))),
                    else: .group(
                        .form(
                            .method(.post), .action("/invites/" + secret),
                            Layout.csrfField(csrf),
                            Layout.field(
                                "Your name", name: "name", type: .text, value: state.values["name"] ?? "",
                                error: state.errors["name"], autocomplete: "name"),
                            Layout.field(
                                "Choose a password (12 characters or more)", name: "password", type: .password,
                                error: state.errors["password"], autocomplete: "new-password"),
                            .button(.type(.submit), "Create account and join")),
                        .p(
                            .class("muted"), .text("Already have a Tally account with \(invite.email)? "),
                            .a(.href("/login?next=/invites/" + secret), "Sign in"),
                            .text(" first, then join with it here."))))))
    }

    /// A signed-in page's frame around a message: what a page shows when its query failed.
    package static func failure(_ header: Layout.SignedInHeader, title: String, _ message: String) -> String {
        Layout.page(
            title: title, signedIn: header, .h1(.text(title)), notice(message),
            .p(.a(.href("/"), "Back to the overview")))
    }

    package static func message(title: String, _ text: String, link: (href: String, label: String)? = nil) -> String {
        Layout.page(
            title: title,
            .div(
                .class("narrow card"),
                .h1(.text(title)),
                .p(.text(text)),
                .unwrap(link) { .a(.href($0.href), .text($0.label)) }))
    }
}
