import TallyCore
import Testing

@testable import TallyWeb

/// The pages of issue 23, as HTML snapshots: hostile values (a provider's label, an identity's email, a refusal's
/// reason) stay text.
@Suite struct SignInPagesTests {
    @Test func signInOffersSingleSignOnForgotPasswordAndSignUp() throws {
        let login = AccountPages.login(
            csrf: "csrf", next: "/usage?x=1",
            options: .init(sso: [("oidc", "<b>Acme</b> SSO"), ("github", "GitHub")], canSignUp: true))
        #expect(login.contains("&lt;b&gt;Acme&lt;/b&gt; SSO") && !login.contains("<b>Acme"))
        #expect(login.contains(#"href="/password/forgot""#) && login.contains(#"href="/signup""#))
        try Snapshot.check(login, "login-sso")
        try Snapshot.check(
            SignInPages.secondFactor(csrf: "csrf", notice: "That code is not right."), "login-two-factor")
        try Snapshot.check(SignInPages.forgot(csrf: "csrf", canMail: true, sent: true), "password-forgot-sent")
        let refused = SignInPages.ssoRefused("The <script>nonce</script> did not match.")
        #expect(refused.contains("&lt;script&gt;") && !refused.contains("<script>nonce"))
        try Snapshot.check(refused, "sso-refused")
    }

    @Test func theAccountPageListsIdentitiesAndTwoFactor() throws {
        let page = Sample.page(.viewer, section: .none)
        let identity = LinkedIdentity(
            id: "idn_1", userID: Sample.user.id, provider: "oidc", issuer: "https://id.example.com", subject: "s",
            email: "\"><img src=x>@example.com", createdAt: Sample.now, lastUsedAt: Sample.now)
        let account = AccountPage.render(
            page,
            .init(
                email: Sample.user.email, emailVerified: false, identities: [identity], twoFactorEnabled: true,
                unusedRecoveryCodes: 7, providers: [("github", "GitHub")]))
        #expect(!account.contains("<img") && account.contains("7 of 10 recovery codes left"))
        try Snapshot.check(account, "account")
        let qr = try QRCode(text: "otpauth://totp/Tally:ada@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Tally").svg(
            title: "Two-factor set-up code for Tally")
        try Snapshot.check(
            AccountPage.enrol(page, secret: "JBSWY3DPEHPK3PXP", qrSVG: qr, required: true), "two-factor-enrol")
        try Snapshot.check(AccountPage.recoveryCodes(page, codes: ["aaaa-bbbb", "cccc-dddd"]), "recovery-codes")
    }
}
