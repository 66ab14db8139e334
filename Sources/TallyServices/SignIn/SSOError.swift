/// Why a single sign-on was refused. Every case is safe to show: none carries a token, a code or a secret, only our
/// own words and, where a provider sent one, its short OAuth error code.
package enum SSOError: Error, Sendable, Equatable {
    /// The provider could not be reached (the fetch threw); the text names the call (`discovery`, `token`…).
    case unreachable(String)
    /// A provider's answer was over 1 MiB.
    case responseTooLarge(String)
    /// The discovery document was missing, not JSON, or lacked an endpoint.
    case discoveryFailed
    /// The discovery document names another issuer than the one configured.
    case issuerMismatch
    /// The key set (JWKS) could not be fetched or read.
    case keysUnavailable
    /// The token endpoint refused the code, with the provider's OAuth error code when it sent one.
    case tokenRefused(String?)
    case noIDToken
    case malformedToken
    /// The ID token's `alg` is not RS256 or ES256 (`none` and HMAC are refused on purpose).
    case unsupportedAlgorithm(String)
    /// No key in the provider's key set has the token's `kid`, even after fetching the set again.
    case unknownKey
    /// The key the token names is of another type than its `alg` (an RSA key for ES256, say).
    case keyMismatch
    case badSignature
    case wrongIssuer
    case wrongAudience
    /// Several audiences and an `azp` that is not ours, or an `azp` that is not ours at all.
    case wrongAuthorizedParty
    case expired
    case issuedInFuture
    case nonceMismatch
    /// GitHub refused the code, with its error code (`bad_verification_code`…) when it sent one.
    case gitHubRefused(String?)
    /// A GitHub API call failed; the text names it (`user`, `emails`).
    case gitHubFailed(String)

    // What the sign-in flow itself refuses, around the clients.

    /// The callback's `state` is unknown, expired, used, or not the one this browser's cookie holds.
    case stateMismatch
    /// The provider sent the browser back with `error=…` (the person declined, say); the text is its code.
    case providerRefused(String)
    /// The provider shared no (usable) email address, so no account can be found or made.
    case noEmail
    /// The email's domain is not in TALLY_OIDC_ALLOWED_DOMAINS.
    case domainNotAllowed
    /// The provider does not vouch for the email, so it may not take over an account or make one.
    case emailNotVerified
    /// No account has this email and sign-up through single sign-on is off (or needs an invitation there is not).
    case signUpClosed
    /// The identity is linked to another account already.
    case linkedElsewhere

    /// Whether the sign-in was verified but is not allowed (403), rather than not verified at all (401).
    package var isRefusal: Bool {
        switch self {
        case .noEmail, .domainNotAllowed, .emailNotVerified, .signUpClosed, .linkedElsewhere: true
        default: false
        }
    }

    /// Plain words for the sign-in failure page. Each names the check that failed (nonce, audience, expired,
    /// signature, key…) so whoever configures the provider knows where to look.
    package var userMessage: String {
        switch self {
        case .unreachable(let call):
            "Tally could not reach the identity provider (\(call) request). Try again in a moment."
        case .responseTooLarge(let call):
            "The identity provider's answer to the \(call) request was too large to be genuine."
        case .discoveryFailed:
            "The identity provider's configuration (its OpenID discovery document) could not be read."
        case .issuerMismatch:
            "The identity provider's discovery document names a different issuer than the one Tally is configured with."
        case .keysUnavailable:
            "The identity provider's signing keys (its JWKS) could not be read."
        case .tokenRefused(let code?):
            "The identity provider refused the sign-in code (\(code)). Try signing in again."
        case .tokenRefused(nil):
            "The identity provider refused the sign-in code. Try signing in again."
        case .noIDToken:
            "The identity provider did not return an ID token. Check that the openid scope is allowed."
        case .malformedToken:
            "The identity provider's token is malformed or lacks a required claim."
        case .unsupportedAlgorithm(let alg):
            "The identity provider's token is signed with \(alg); Tally accepts only RS256 and ES256 signatures."
        case .unknownKey:
            "The identity provider's token was signed by an unknown key."
        case .keyMismatch:
            "The identity provider's token names a signing key of another type than its algorithm."
        case .badSignature:
            "The identity provider's token has an invalid signature."
        case .wrongIssuer:
            "The identity provider's token was issued by a different issuer than the one configured."
        case .wrongAudience:
            "The identity provider's token was issued for another application (its audience is not Tally's client ID)."
        case .wrongAuthorizedParty:
            "The identity provider's token was issued to another application (its authorized party, azp, is not "
                + "Tally's client ID)."
        case .expired:
            "The identity provider's token has expired. Check that this server's clock is right, then try again."
        case .issuedInFuture:
            "The identity provider's token was issued in the future. Check that this server's clock is right."
        case .nonceMismatch:
            "The identity provider's token does not carry this sign-in's nonce, so it was not issued for it."
        case .gitHubRefused(let code?):
            "GitHub refused the sign-in code (\(code)). Try signing in again."
        case .gitHubRefused(nil):
            "GitHub refused the sign-in code. Try signing in again."
        case .gitHubFailed(let call):
            "GitHub did not answer the \(call) request. Try again in a moment."
        case .stateMismatch:
            "This sign-in has expired or was started in another browser (its state does not match). Start again."
        case .providerRefused(let code):
            code.isEmpty
                ? "The identity provider refused the sign-in."
                : "The identity provider refused the sign-in (\(code))."
        case .noEmail:
            "The identity provider did not share an email address, so Tally cannot find or make your account."
        case .domainNotAllowed:
            "Your email address's domain is not allowed to sign in to this Tally."
        case .emailNotVerified:
            "The identity provider has not verified your email address, so Tally cannot match it to an account."
        case .signUpClosed:
            "No Tally account uses this email address, and signing up through single sign-on needs an invitation "
                + "here (or is off). Ask an owner to invite you."
        case .linkedElsewhere:
            "This identity is already linked to another Tally account."
        }
    }
}
