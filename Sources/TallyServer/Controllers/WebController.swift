import Foundation
import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// The account pages of the web UI: first run, sign in and out, invites, switching organizations.
/// The signed-in pages are in DashboardController.
struct WebController<Store: AuthenticationStore & AccountServiceStore> {
    let store: Store
    let auth: Authenticator<Store>
    let accounts: AccountService<Store>
    let publicURL: String?
    let defaultTimeZone: String
    let trustedProxies: TrustedProxies
    /// The single sign-on buttons and whether "Create an account" shows, on the sign-in page.
    var signInOptions = AccountPages.SignInOptions()

    func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("setup", use: setupForm)
        router.post("setup", use: setup)
        router.get("login", use: loginForm)
        router.post("login", use: login)
        router.post("logout", use: logout)
        router.post("organizations/switch", use: switchOrganization)
        router.get("invites/:secret", use: inviteForm)
        router.post("invites/:secret", use: acceptInvite)
    }

    // MARK: Pre-login CSRF: a random cookie that the form must repeat (double submit).

    func preLoginCSRF(_ request: Request) -> (token: String, setCookie: String?) {
        if let existing = Cookies.value(Cookies.csrf, in: request), existing.count >= 20 { return (existing, nil) }
        let token = String(Identifier.make("", length: 32).dropFirst())
        return (token, Cookies.set(Cookies.csrf, token, maxAge: 86_400, secure: secure(request)))
    }

    func checkPreLoginCSRF(_ request: Request, _ form: FormBody) throws {
        guard let cookie = Cookies.value(Cookies.csrf, in: request), !cookie.isEmpty,
            constantTimeEqual(cookie, form["_csrf"])
        else {
            throw APIError.csrfFailed
        }
    }

    func checkSessionCSRF(_ principal: Principal, _ form: FormBody) throws {
        guard case .user(_, _, let session) = principal.kind, constantTimeEqual(session.csrfToken, form["_csrf"]) else {
            throw APIError.csrfFailed
        }
    }

    func secure(_ request: Request) -> Bool { Cookies.isSecure(request, publicURL: publicURL) }

    func html(_ text: String, status: HTTPResponse.Status = .ok, cookie: String?) -> Response {
        var headers: HTTPFields = [:]
        if let cookie { headers[.setCookie] = cookie }
        return .html(text, status: status, headers: headers)
    }

    func sessionCookie(_ signIn: AccountService<Store>.SignIn, _ request: Request) -> String {
        Cookies.set(
            Cookies.session, signIn.secret, maxAge: Int(accounts.policy.absoluteMicroseconds / 1_000_000),
            secure: secure(request))
    }

    /// Only paths on this site, so a crafted link cannot send someone elsewhere after signing in: `/` followed by a
    /// character other than `/` or `\` (`//host` and `/\host` are other hosts to browsers), and no control characters,
    /// typed or percent-encoded (browsers drop tabs and newlines, so `/%09/evil.example` becomes `//evil.example`).
    /// A service's message ("x requires y") as a sentence for a page.
    static func sentence(_ text: String) -> String { text.prefix(1).uppercased() + text.dropFirst() + "." }

    static func safeNext(_ next: String) -> String {
        func isLocal(_ path: String) -> Bool {
            let scalars = Array(path.unicodeScalars)
            guard scalars.first == "/" else { return false }
            if scalars.count > 1, scalars[1] == "/" || scalars[1] == "\\" { return false }
            return !scalars.contains { $0 == "\\" || $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
        }
        guard isLocal(next), isLocal(next.removingPercentEncoding ?? "") else { return "/" }
        return next
    }

    /// The client's address: the TCP peer, or behind a trusted proxy what it appended to X-Forwarded-For.
    func clientAddress(_ request: Request, _ context: TallyRequestContext) -> String {
        trustedProxies.clientAddress(
            peer: context.remoteAddress,
            forwardedFor: request.headers[values: .init("X-Forwarded-For")!])
    }

    // MARK: Pages

    @Sendable func setupForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard try await accounts.needsSetup() else { throw TallyError.notFound("page") }
        let csrf = preLoginCSRF(request)
        return html(AccountPages.setup(csrf: csrf.token), cookie: csrf.setCookie)
    }

    @Sendable func setup(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard try await accounts.needsSetup() else { throw TallyError.notFound("page") }
        let form = try await FormBody.read(request)
        try checkPreLoginCSRF(request, form)
        do {
            let user = try await accounts.setup(
                organization: form["organization"], name: form["name"], email: form["email"],
                password: form["password"], timeZone: defaultTimeZone)
            let signIn = try await accounts.startSession(user: user)
            return .seeOther("/", cookies: [sessionCookie(signIn, request)])
        } catch TallyError.invalid(let problems) {
            let state = AccountPages.FormState(
                values: form.values, problems: problems, notice: "Please correct the fields marked below.")
            return .html(AccountPages.setup(csrf: form["_csrf"], state: state), status: .unprocessableContent)
        }
    }

    @Sendable func loginForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        if try await accounts.needsSetup() { return .seeOther("/setup") }
        let csrf = preLoginCSRF(request)
        let next = request.uri.queryParameters["next"].map(String.init) ?? ""
        return html(AccountPages.login(csrf: csrf.token, next: next, options: signInOptions), cookie: csrf.setCookie)
    }

    @Sendable func login(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let form = try await FormBody.read(request)
        try checkPreLoginCSRF(request, form)
        let address = clientAddress(request, context)
        do {
            // A new session id on every sign-in, so a planted session id is worthless; or first the second step.
            let user = try await accounts.authenticate(
                email: form["email"], password: form["password"], address: address)
            let outcome = try await accounts.afterFirstFactor(
                user, next: form["next"], address: address, method: "password")
            return signedIn(outcome, request)
        } catch TallyError.unauthenticated {
            // One message for an unknown email and a wrong password: no account enumeration.
            return .html(
                AccountPages.login(
                    csrf: form["_csrf"], email: form["email"], next: form["next"],
                    notice: "Wrong email or password.", options: signInOptions), status: .unauthorized)
        } catch TallyError.forbidden(let reason) {
            // Only after the right password: an organization of this person's requires single sign-on.
            return .html(
                AccountPages.login(
                    csrf: form["_csrf"], email: form["email"], next: form["next"],
                    notice: Self.sentence(reason), options: signInOptions),
                status: .forbidden)
        } catch TallyError.throttled(let seconds) {
            return .html(
                AccountPages.login(
                    csrf: form["_csrf"], email: form["email"], next: form["next"],
                    notice: "Too many failed sign-ins. Try again in \(seconds) seconds.", options: signInOptions),
                status: .tooManyRequests, headers: [.retryAfter: String(seconds)])
        }
    }

    /// After a password or single sign-on: the session, or the second step with its challenge cookie.
    func signedIn(_ outcome: AccountService<Store>.FirstFactorOutcome, _ request: Request) -> Response {
        switch outcome {
        case .signedIn(let signIn, let next):
            return .seeOther(Self.safeNext(next), cookies: [sessionCookie(signIn, request)])
        case .secondFactor(let challenge):
            return .seeOther(
                "/login/two-factor",
                cookies: [
                    Cookies.set(
                        Cookies.challenge, challenge,
                        maxAge: Int(AccountService<Store>.challengeMicroseconds / 1_000_000), secure: secure(request))
                ])
        }
    }

    @Sendable func logout(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let form = try await FormBody.read(request)
        guard let principal = try await auth.session(request) else {
            return .seeOther("/login", cookies: [Cookies.clear(Cookies.session, secure: secure(request))])
        }
        try checkSessionCSRF(principal, form)
        try await accounts.logout(principal)
        return .seeOther("/login", cookies: [Cookies.clear(Cookies.session, secure: secure(request))])
    }

    @Sendable func switchOrganization(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let form = try await FormBody.read(request)
        guard let principal = try await auth.session(request) else { return .seeOther("/login") }
        try checkSessionCSRF(principal, form)
        try await accounts.switchOrganization(principal, to: form["organization_id"])
        return .seeOther("/")
    }

    @Sendable func inviteForm(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let secret = try context.parameters.require("secret")
        do {
            let invite = try await accounts.usableInvite(secret: secret)
            let org = try await store.organization(id: invite.organizationID)
            let signedIn = try await auth.session(request)
            if case .user(let user, _, let session)? = signedIn?.kind, user.email == invite.email {
                return .html(
                    AccountPages.invite(
                        csrf: session.csrfToken, secret: secret, invite: invite,
                        organizationName: org?.name ?? "", signedIn: user))
            }
            let csrf = preLoginCSRF(request)
            return html(
                AccountPages.invite(
                    csrf: csrf.token, secret: secret, invite: invite, organizationName: org?.name ?? "",
                    signedIn: nil), cookie: csrf.setCookie)
        } catch TallyError.gone(let message) {
            return .html(
                AccountPages.message(title: "Invite not usable", message + ". Ask an admin for a new one."),
                status: .gone)
        }
    }

    /// The person the invite is for joins with their session; anyone else creates the invited account.
    @Sendable func acceptInvite(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let secret = try context.parameters.require("secret")
        let form = try await FormBody.read(request)
        let address = clientAddress(request, context)
        do {
            let invite = try await accounts.usableInvite(secret: secret)
            if let principal = try await auth.session(request), principal.user?.email == invite.email {
                try checkSessionCSRF(principal, form)
                try await accounts.acceptInvite(principal, secret: secret, address: address)
                return .seeOther("/")
            }
            try checkPreLoginCSRF(request, form)
            let signIn = try await accounts.acceptInvite(
                secret: secret, name: form["name"], password: form["password"], address: address)
            return .seeOther("/", cookies: [sessionCookie(signIn, request)])
        } catch TallyError.gone(let message) {
            return .html(
                AccountPages.message(title: "Invite not usable", message + ". Ask an admin for a new one."),
                status: .gone)
        } catch TallyError.throttled(let seconds) {
            return try await inviteFormAgain(
                secret, form, notice: "Too many attempts. Try again in \(seconds) seconds.",
                status: .tooManyRequests, headers: [.retryAfter: String(seconds)])
        } catch TallyError.conflict(let message) {
            return try await inviteFormAgain(
                secret, form, notice: Self.sentence(message),
                status: .conflict)
        } catch TallyError.invalid(let problems) {
            return try await inviteFormAgain(
                secret, form, problems: problems, notice: "Please correct the fields marked below.",
                status: .unprocessableContent)
        }
    }

    private func inviteFormAgain(
        _ secret: String, _ form: FormBody, problems: [FieldProblem] = [], notice: String,
        status: HTTPResponse.Status, headers: HTTPFields = [:]
    ) async throws -> Response {
        let invite = try await accounts.usableInvite(secret: secret)
        let org = try await store.organization(id: invite.organizationID)
        var values = form.values
        values["password"] = nil
        let state = AccountPages.FormState(values: values, problems: problems, notice: notice)
        return .html(
            AccountPages.invite(
                csrf: form["_csrf"], secret: secret, invite: invite, organizationName: org?.name ?? "",
                signedIn: nil, state: state), status: status, headers: headers)
    }
}
