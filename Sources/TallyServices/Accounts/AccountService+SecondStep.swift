import Foundation
import TallyCore

/// The step after a password or single sign-on (issue 23): a session at once, or a challenge for the second factor.
extension AccountService {
    public enum FirstFactorOutcome: Sendable {
        /// Signed in: set the session cookie and go to `next`.
        case signedIn(SignIn, next: String)
        /// Two-factor is on: the challenge's secret goes into a short-lived cookie, the browser to the second step.
        case secondFactor(challenge: String)
    }

    /// How long a passed first factor waits for its second.
    package static var challengeMicroseconds: Int64 { 5 * 60_000_000 }

    /// After the first factor passed: a session, or (two-factor enabled) a challenge.
    public func afterFirstFactor(_ user: User, next: String, address: String, method: String) async throws
        -> FirstFactorOutcome
    {
        let security = try await store.userSecurity(userID: user.id)
        guard security.twoFactorEnabled else {
            return .signedIn(try await startSignedInSession(user, address: address, method: method), next: next)
        }
        let secret = "tlc_" + Identifier.make("", length: 43).dropFirst()
        try await store.saveLoginChallenge(
            LoginChallenge(
                userID: user.id,
                expiresAt: Instant(microseconds: Instant.now.microseconds + Self.challengeMicroseconds),
                next: next), secretHash: TokenSecret.hash(secret))
        return .secondFactor(challenge: secret)
    }

    /// The challenge a second-step page answers; nil when unknown or expired (sign in again).
    public func pendingChallenge(_ secret: String) async throws -> LoginChallenge? {
        guard !secret.isEmpty else { return nil }
        return try await store.loginChallenge(secretHash: TokenSecret.hash(secret), at: .now)
    }

    /// Checks a TOTP code or a recovery code for the challenge, throttled like sign-in (per account and address), and
    /// starts the session. A code's time step is used once: a replayed code is refused even within its window.
    public func passSecondFactor(challenge secret: String, code: String, recoveryCode: String, address: String)
        async throws -> (SignIn, next: String)
    {
        guard let challenge = try await pendingChallenge(secret), let user = try await store.user(id: challenge.userID)
        else { throw TallyError.gone("this sign-in expired") }
        let account = "2fa:" + user.id
        let now = Instant.now
        try await takeAttemptSlot(account: account, address: address, at: now)
        let method: String
        if !recoveryCode.trimmingCharacters(in: .whitespaces).isEmpty {
            guard
                try await store.useRecoveryCode(
                    userID: user.id, codeHash: RecoveryCodes.hash(recoveryCode), at: now)
            else { throw TallyError.unauthenticated }
            method = "recovery_code"
        } else {
            guard try await acceptTOTP(user, code: code, at: now) else { throw TallyError.unauthenticated }
            method = "totp"
        }
        try await store.clearLoginFailures(account: account)
        try await store.deleteLoginChallenge(secretHash: TokenSecret.hash(secret))
        let signIn = try await startSignedInSession(user, address: address, method: "password+" + method)
        return (signIn, challenge.next)
    }

    /// Whether the code is right now (±1 step) and its step later than any used before (recorded atomically).
    package func acceptTOTP(_ user: User, code: String, at now: Instant) async throws -> Bool {
        let security = try await store.userSecurity(userID: user.id)
        guard security.twoFactorEnabled, let secret = try openTOTPSecret(user, security) else { return false }
        guard let step = TOTP.matchingStep(code: code, secret: secret, at: now.microseconds / 1_000_000) else {
            return false
        }
        return try await store.useTwoFactorStep(userID: user.id, step: step)
    }

    package func openTOTPSecret(_ user: User, _ security: UserSecurity) throws -> [UInt8]? {
        guard let text = security.totpSecret else { return nil }
        guard let vault else { throw TallyError.unavailable("two-factor needs the master key (TALLY_MASTER_KEY)") }
        guard let sealed = SealedSecret(text: text) else { return nil }
        let base32 = try vault.open(sealed, organizationID: "", connectionID: user.id, field: .twoFactor)
        return Base32.decode(base32)
    }

    /// Whether one of the person's organizations requires two-factor and they have not enabled it: the pages then
    /// send them to enrol before anything else.
    public func mustEnrollTwoFactor(userID: String) async throws -> Bool {
        guard try await !store.userSecurity(userID: userID).twoFactorEnabled else { return false }
        for m in try await store.memberships(userID: userID) {
            if try await store.signInRules(organizationID: m.organization.id).requireTwoFactor { return true }
        }
        return false
    }
}
