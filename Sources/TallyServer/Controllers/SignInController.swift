import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices
import TallyWeb

/// Sign-in, round 2 (issue 23), the pages: single sign-on, the second step, forgotten passwords, open sign-up and
/// email verification. The signed-in account pages are in AccountPageController.
struct SignInController<Store: AuthenticationStore & AccountServiceStore> {
    let web: WebController<Store>
    let sso: SingleSignOn<Store>
    var accounts: AccountService<Store> { web.accounts }

    func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("login/sso/:provider", use: startSSO)
        router.get("login/sso/:provider/callback", use: finishSSO)
        router.get("login/two-factor", use: secondStepForm)
        router.post("login/two-factor", use: secondStep)
        router.get("password/forgot", use: forgotForm)
        router.post("password/forgot", use: forgot)
        router.get("password/reset/:secret", use: resetForm)
        router.post("password/reset/:secret", use: reset)
        router.get("signup", use: signUpForm)
        router.post("signup", use: signUp)
        router.get("verify-email/:secret", use: verifyEmail)
    }

    func respond(_ outcome: AccountService<Store>.FirstFactorOutcome, _ request: Request) -> Response {
        web.signedIn(outcome, request)
    }

    // MARK: Single sign-on

    @Sendable func startSSO(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let provider = try context.parameters.require("provider")
        let query = request.uri.queryParameters
        let next = WebController<Store>.safeNext(query["next"].map(String.init) ?? "/")
        // `link=1` from the account page: the identity is linked to the person signed in, whatever its email.
        let linking = query["link"] == "1" ? try await web.auth.session(request) : nil
        if query["link"] == "1", linking == nil { return .seeOther("/login?next=/account") }
        let started = try await sso.start(
            provider: provider, next: linking == nil ? next : "/account", linking: linking)
        return .seeOther(
            started.redirect,
            cookies: [
                Cookies.set(
                    Cookies.singleSignOn, started.state,
                    maxAge: Int(SingleSignOn<Store>.flowMicroseconds / 1_000_000), secure: web.secure(request))
            ])
    }

    @Sendable func finishSSO(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let provider = try context.parameters.require("provider")
        let query = request.uri.queryParameters
        let clear = Cookies.clear(Cookies.singleSignOn, secure: web.secure(request))
        if let error = query["error"] {
            // The provider's own refusal (the person declined, say): its code only, never its description verbatim.
            let code = String(error.prefix(64).filter { $0.isLetter || $0 == "_" })
            return refused(SSOError.providerRefused(code).userMessage, status: .unauthorized, cookie: clear)
        }
        do {
            let finished = try await sso.finish(
                provider: provider, code: query["code"].map(String.init) ?? "",
                state: query["state"].map(String.init) ?? "",
                browserState: Cookies.value(Cookies.singleSignOn, in: request) ?? "",
                address: web.clientAddress(request, context))
            switch finished {
            case .linked: return .seeOther("/account", cookies: [clear])
            case .signedIn(let outcome):
                var response = respond(outcome, request)
                response.headers[values: .setCookie].append(clear)
                return response
            }
        } catch let error as SSOError {
            return refused(error.userMessage, status: error.isRefusal ? .forbidden : .unauthorized, cookie: clear)
        } catch TallyError.conflict(let message) {
            return refused(WebController<Store>.sentence(message), status: .conflict, cookie: clear)
        }
    }

    private func refused(_ reason: String, status: HTTPResponse.Status, cookie: String) -> Response {
        .html(SignInPages.ssoRefused(reason), status: status, headers: [.setCookie: cookie])
    }

    // MARK: The second step

    @Sendable func secondStepForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard try await accounts.pendingChallenge(Cookies.value(Cookies.challenge, in: request) ?? "") != nil else {
            return .seeOther("/login")
        }
        let csrf = web.preLoginCSRF(request)
        return web.html(SignInPages.secondFactor(csrf: csrf.token), cookie: csrf.setCookie)
    }

    @Sendable func secondStep(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let form = try await FormBody.read(request)
        try web.checkPreLoginCSRF(request, form)
        let challenge = Cookies.value(Cookies.challenge, in: request) ?? ""
        do {
            let (signIn, next) = try await accounts.passSecondFactor(
                challenge: challenge, code: form["code"], recoveryCode: form["recovery_code"],
                address: web.clientAddress(request, context))
            return .seeOther(
                WebController<Store>.safeNext(next),
                cookies: [
                    web.sessionCookie(signIn, request), Cookies.clear(Cookies.challenge, secure: web.secure(request)),
                ])
        } catch TallyError.unauthenticated {
            return .html(
                SignInPages.secondFactor(csrf: form["_csrf"], notice: "That code is not right (or was used already)."),
                status: .unauthorized)
        } catch TallyError.throttled(let seconds) {
            return .html(
                SignInPages.secondFactor(
                    csrf: form["_csrf"], notice: "Too many wrong codes. Try again in \(seconds) seconds."),
                status: .tooManyRequests, headers: [.retryAfter: String(seconds)])
        } catch TallyError.gone {
            return .seeOther("/login")
        }
    }

    // MARK: Forgotten passwords

    @Sendable func forgotForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let csrf = web.preLoginCSRF(request)
        return web.html(SignInPages.forgot(csrf: csrf.token, canMail: accounts.canMailLinks), cookie: csrf.setCookie)
    }

    @Sendable func forgot(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let form = try await FormBody.read(request)
        try web.checkPreLoginCSRF(request, form)
        do {
            try await accounts.requestPasswordReset(email: form["email"], address: web.clientAddress(request, context))
        } catch TallyError.invalid {
            return .html(
                SignInPages.forgot(
                    csrf: form["_csrf"], canMail: accounts.canMailLinks, notice: "Type an email address."),
                status: .unprocessableContent)
        } catch TallyError.throttled(let seconds) {
            return .html(
                SignInPages.forgot(
                    csrf: form["_csrf"], canMail: accounts.canMailLinks,
                    notice: "Too many requests. Try again in \(seconds) seconds."),
                status: .tooManyRequests, headers: [.retryAfter: String(seconds)])
        }
        return .html(SignInPages.forgot(csrf: form["_csrf"], canMail: accounts.canMailLinks, sent: true))
    }

    @Sendable func resetForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let secret = try context.parameters.require("secret")
        guard try await accounts.resetLinkIsUsable(secret) else { return linkGone("reset link") }
        let csrf = web.preLoginCSRF(request)
        return web.html(SignInPages.reset(csrf: csrf.token, secret: secret), cookie: csrf.setCookie)
    }

    @Sendable func reset(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let secret = try context.parameters.require("secret")
        let form = try await FormBody.read(request)
        try web.checkPreLoginCSRF(request, form)
        do {
            try await accounts.resetPassword(secret: secret, password: form["password"])
        } catch TallyError.invalid(let problems) {
            return .html(
                SignInPages.reset(csrf: form["_csrf"], secret: secret, error: problems.first?.reason),
                status: .unprocessableContent)
        } catch TallyError.gone {
            return linkGone("reset link")
        }
        return .html(
            AccountPages.message(
                title: "Password changed",
                "Your new password is set, and every session of your account was signed out.",
                link: ("/login", "Sign in")))
    }

    private func linkGone(_ what: String) -> Response {
        .html(
            AccountPages.message(
                title: "Link not usable", "This \(what) was used already, has expired or does not exist.",
                link: ("/password/forgot", "Ask for a new one")), status: .gone)
    }

    // MARK: Open sign-up and email verification

    @Sendable func signUpForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard accounts.signUp.passwords == .open else { throw TallyError.notFound("page") }
        let csrf = web.preLoginCSRF(request)
        return web.html(SignInPages.signUp(csrf: csrf.token), cookie: csrf.setCookie)
    }

    @Sendable func signUp(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard accounts.signUp.passwords == .open else { throw TallyError.notFound("page") }
        let form = try await FormBody.read(request)
        try web.checkPreLoginCSRF(request, form)
        var values = form.values
        values["password"] = nil
        do {
            let signIn = try await accounts.signUp(
                name: form["name"], email: form["email"], password: form["password"],
                organization: form["organization"], timeZone: web.defaultTimeZone,
                address: web.clientAddress(request, context))
            return .seeOther("/", cookies: [web.sessionCookie(signIn, request)])
        } catch TallyError.invalid(let problems) {
            let state = AccountPages.FormState(
                values: values, problems: problems, notice: "Please correct the fields marked below.")
            return .html(SignInPages.signUp(csrf: form["_csrf"], state: state), status: .unprocessableContent)
        } catch TallyError.conflict {
            // The same words as for any refusal of this address: sign-up tells nobody which emails have accounts.
            let state = AccountPages.FormState(
                values: values,
                notice: "This address cannot sign up. If it is yours, sign in or use Forgot password.")
            return .html(SignInPages.signUp(csrf: form["_csrf"], state: state), status: .conflict)
        } catch TallyError.throttled(let seconds) {
            let state = AccountPages.FormState(
                values: values, notice: "Too many attempts. Try again in \(seconds) seconds.")
            return .html(
                SignInPages.signUp(csrf: form["_csrf"], state: state), status: .tooManyRequests,
                headers: [.retryAfter: String(seconds)])
        }
    }

    @Sendable func verifyEmail(_ request: Request, context: TallyRequestContext) async throws -> Response {
        do {
            let user = try await accounts.verifyEmail(secret: try context.parameters.require("secret"))
            return .html(
                AccountPages.message(
                    title: "Email verified", "\(user.email) is verified. You can now add provider keys and tokens.",
                    link: ("/", "Go to Tally")))
        } catch TallyError.gone {
            return .html(
                AccountPages.message(
                    title: "Link not usable", "This verification link was used already, has expired or does not exist.",
                    link: ("/account", "Send a new one from your account page")), status: .gone)
        }
    }
}
