import Foundation
import TallyCore

/// Two-factor enrolment (issue 23): a TOTP secret (RFC 6238) sealed by the vault, confirmed by a first code, and ten
/// single-use recovery codes shown once and stored hashed.
extension AccountService {
    public struct Enrolment: Sendable {
        /// Base32, for typing into an authenticator by hand.
        public var secret: String
        /// The `otpauth://totp/…` URI the QR code holds.
        public var uri: String
    }

    public enum TwoFactorState: Sendable {
        case enabled(unusedRecoveryCodes: Int)
        case enrolling(Enrolment)
    }

    /// Where the person stands: enabled, or enrolling with the pending secret (a new one made if none is pending).
    public func twoFactorState(_ principal: Principal) async throws -> TwoFactorState {
        let user = try signedInUser(principal)
        let security = try await store.userSecurity(userID: user.id)
        if security.twoFactorEnabled { return .enabled(unusedRecoveryCodes: security.unusedRecoveryCodes) }
        if let secret = try openTOTPSecret(user, security) {
            return .enrolling(enrolment(user, secret: secret))
        }
        guard let vault else { throw TallyError.unavailable("two-factor needs the master key (TALLY_MASTER_KEY)") }
        let secret = TOTP.newSecret()
        let sealed = try vault.seal(Base32.encode(secret), organizationID: "", connectionID: user.id, field: .twoFactor)
        try await store.beginTwoFactor(userID: user.id, sealedSecret: sealed.text)
        return .enrolling(enrolment(user, secret: secret))
    }

    private func enrolment(_ user: User, secret: [UInt8]) -> Enrolment {
        Enrolment(
            secret: Base32.encode(secret), uri: TOTP.otpauthURI(secret: secret, account: user.email, issuer: "Tally"))
    }

    /// Turns two-factor on with a first code from the authenticator; returns the recovery codes (shown once).
    public func enableTwoFactor(_ principal: Principal, code: String) async throws -> [String] {
        let user = try signedInUser(principal)
        let security = try await store.userSecurity(userID: user.id)
        guard !security.twoFactorEnabled else { throw TallyError.conflict("two-factor is already enabled") }
        guard let secret = try openTOTPSecret(user, security) else {
            throw TallyError.conflict("start enrolment first: open the two-factor page")
        }
        let now = Instant.now
        guard let step = TOTP.matchingStep(code: code, secret: secret, at: now.microseconds / 1_000_000) else {
            throw TallyError.invalid([
                FieldProblem(field: "code", reason: "is not the current code of your authenticator app")
            ])
        }
        let codes = RecoveryCodes.generate()
        try await store.enableTwoFactor(
            userID: user.id, recoveryCodeHashes: codes.map(RecoveryCodes.hash), usedStep: step, at: now)
        try await auditInEveryOrganization(user, action: "two_factor.enable", detail: [], at: now)
        return codes
    }

    /// Turns two-factor off, with a current code or a recovery code; refused while an organization requires it.
    public func disableTwoFactor(_ principal: Principal, code: String, recoveryCode: String) async throws {
        let user = try signedInUser(principal)
        let now = Instant.now
        for m in try await store.memberships(userID: user.id) {
            if try await store.signInRules(organizationID: m.organization.id).requireTwoFactor {
                throw TallyError.forbidden("\(m.organization.name) requires two-factor for its members")
            }
        }
        try await takeAttemptSlot(account: "2fa:" + user.id, address: "2fa-disable:" + user.id, at: now)
        let passed =
            recoveryCode.trimmingCharacters(in: .whitespaces).isEmpty
            ? try await acceptTOTP(user, code: code, at: now)
            : try await store.useRecoveryCode(userID: user.id, codeHash: RecoveryCodes.hash(recoveryCode), at: now)
        guard passed else {
            throw TallyError.invalid([FieldProblem(field: "code", reason: "is not a current code or recovery code")])
        }
        try await store.clearLoginFailures(account: "2fa:" + user.id)
        try await store.disableTwoFactor(userID: user.id)
        try await auditInEveryOrganization(user, action: "two_factor.disable", detail: [], at: now)
    }

    package func signedInUser(_ principal: Principal) throws -> User {
        guard let user = principal.user else { throw TallyError.forbidden("sign in as a person to do this") }
        return user
    }
}
