import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices
import TallyWeb

/// The person's own account page (issue 23): email verification, linked identities, two-factor. These pages open
/// even when an organization requires two-factor and the person has none yet: that is where they enrol.
struct AccountPageController<Store: AuthenticationStore & AccountServiceStore> {
    let web: WebController<Store>
    let gate: PageGate<Store>
    let sso: SingleSignOn<Store>
    var accounts: AccountService<Store> { web.accounts }

    func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("account", use: account)
        router.post("account/identities/:id/unlink", use: unlink)
        router.get("account/two-factor", use: enrolForm)
        router.post("account/two-factor", use: enrol)
        router.post("account/two-factor/disable", use: disable)
        router.post("account/verify-email", use: sendVerification)
    }

    /// Runs `body` for the signed-in person (or answers the gate's redirect). A posted form is read first and its
    /// `_csrf` must be the session's.
    private func withPage(
        _ request: Request, posted: Bool = false,
        _ body: (SignedInPage, FormBody) async throws -> Response
    ) async throws -> Response {
        let form = posted ? try await FormBody.read(request) : FormBody("")
        switch try await gate.open(request, section: .none, enforceTwoFactor: false) {
        case .redirect(let response): return response
        case .page(let page):
            if posted { try web.checkSessionCSRF(page.principal, form) }
            return try await body(page, form)
        }
    }

    func model(_ page: SignedInPage, notice: String? = nil) async throws -> AccountPage.Model {
        let security = try await accounts.store.userSecurity(userID: page.user.id)
        return AccountPage.Model(
            email: page.user.email, emailVerified: security.emailVerified,
            identities: try await sso.identities(page.principal), twoFactorEnabled: security.twoFactorEnabled,
            unusedRecoveryCodes: security.unusedRecoveryCodes, providers: sso.buttons, notice: notice)
    }

    @Sendable func account(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await withPage(request) { page, _ in
            let notice: String? =
                switch request.uri.queryParameters["done"] {
                case "unlinked": "The identity was unlinked."
                case "two-factor-off": "Two-factor is off."
                case "verification-sent": "A verification link is on its way to your address."
                default: nil
                }
            return .html(AccountPage.render(page, try await model(page, notice: notice)))
        }
    }

    @Sendable func unlink(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await withPage(request, posted: true) { page, _ in
            do {
                try await sso.unlink(page.principal, id: try context.parameters.require("id"))
            } catch TallyError.conflict(let reason) {
                return .html(
                    AccountPage.render(page, try await model(page, notice: sentence(reason))), status: .conflict)
            }
            return .seeOther("/account?done=unlinked")
        }
    }

    @Sendable func enrolForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await withPage(request) { page, _ in try await enrolPage(page, error: nil, status: .ok) }
    }

    private func enrolPage(_ page: SignedInPage, error: String?, status: HTTPResponse.Status) async throws -> Response {
        switch try await accounts.twoFactorState(page.principal) {
        case .enabled: return .seeOther("/account")
        case .enrolling(let enrolment):
            let qr = try QRCode(text: enrolment.uri).svg(title: "Two-factor set-up code for Tally")
            let required = try await accounts.mustEnrollTwoFactor(userID: page.user.id)
            return .html(
                AccountPage.enrol(page, secret: enrolment.secret, qrSVG: qr, required: required, error: error),
                status: status)
        }
    }

    @Sendable func enrol(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await withPage(request, posted: true) { page, form in
            do {
                let codes = try await accounts.enableTwoFactor(page.principal, code: form["code"])
                return .html(AccountPage.recoveryCodes(page, codes: codes), headers: [.cacheControl: "no-store"])
            } catch TallyError.invalid(let problems) {
                return try await enrolPage(
                    page, error: problems.first?.reason ?? "is not right", status: .unprocessableContent)
            } catch TallyError.conflict {
                return .seeOther("/account")
            }
        }
    }

    @Sendable func disable(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await withPage(request, posted: true) { page, form in
            let status: HTTPResponse.Status
            let notice: String
            do {
                try await accounts.disableTwoFactor(
                    page.principal, code: form["code"], recoveryCode: form["recovery_code"])
                return .seeOther("/account?done=two-factor-off")
            } catch TallyError.invalid(let problems) {
                (status, notice) = (.unprocessableContent, "The code \(problems.first?.reason ?? "is not right").")
            } catch TallyError.forbidden(let reason) {
                (status, notice) = (.forbidden, sentence(reason))
            } catch TallyError.throttled(let seconds) {
                (status, notice) = (.tooManyRequests, "Too many wrong codes. Try again in \(seconds) seconds.")
            }
            return .html(AccountPage.render(page, try await model(page, notice: notice)), status: status)
        }
    }

    @Sendable func sendVerification(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await withPage(request, posted: true) { page, _ in
            do {
                try await accounts.sendVerification(page.user)
            } catch TallyError.unavailable(let reason), TallyError.conflict(let reason) {
                return .html(
                    AccountPage.render(page, try await model(page, notice: sentence(reason))),
                    status: .unprocessableContent)
            }
            return .seeOther("/account?done=verification-sent")
        }
    }

    private func sentence(_ text: String) -> String { WebController<Store>.sentence(text) }
}
