import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// Sign-in, round 2 (issue 23): linked identities, mailed links, flows, challenges, two-factor and the
/// organization's rules, one contract on both stores.
@Suite(.serialized) struct SignInStoreContractTests {
    func user(_ email: String) -> User { User(id: Identifier.make("usr"), email: email, name: email, createdAt: .now) }
    func at(_ seconds: Int64) -> Instant { Instant(microseconds: 1_800_000_000_000_000 + seconds * 1_000_000) }

    @Test(arguments: StoreKind.available)
    func securityStartsFromHowTheAccountWasMade(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let invited = user("ada@example.com"), signedUp = user("bob@example.com"), sso = user("cy@example.com")
            try await store.createUser(invited, passwordHash: "h")
            try await store.createUser(signedUp, passwordHash: "h", emailVerified: false)
            try await store.createUser(sso, passwordHash: "", emailVerified: true)
            #expect(
                try await store.userSecurity(userID: invited.id) == UserSecurity(emailVerified: true, hasPassword: true)
            )
            #expect(try await store.userSecurity(userID: signedUp.id).emailVerified == false)
            #expect(try await store.userSecurity(userID: sso.id).hasPassword == false)
            try await store.markEmailVerified(userID: signedUp.id, at: .now)
            #expect(try await store.userSecurity(userID: signedUp.id).emailVerified)
        }
    }

    @Test(arguments: StoreKind.available)
    func accountLinksWorkOnceBeforeTheyExpireAndOnlyForTheirKind(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let ada = user("ada@example.com")
            try await store.createUser(ada, passwordHash: "h")
            let link = AccountLink(
                id: "lnk_1", kind: .passwordReset, userID: ada.id, createdAt: at(0), expiresAt: at(3600))
            try await store.createAccountLink(link, secretHash: "hash-1")
            #expect(try await store.accountLinkUsable(kind: .passwordReset, secretHash: "hash-1", at: at(10)))
            #expect(try await !store.accountLinkUsable(kind: .emailVerification, secretHash: "hash-1", at: at(10)))
            #expect(try await store.useAccountLink(kind: .emailVerification, secretHash: "hash-1", at: at(10)) == nil)
            #expect(try await !store.accountLinkUsable(kind: .passwordReset, secretHash: "hash-1", at: at(3600)))
            #expect(try await store.useAccountLink(kind: .passwordReset, secretHash: "hash-1", at: at(10)) == link)
            #expect(try await store.useAccountLink(kind: .passwordReset, secretHash: "hash-1", at: at(11)) == nil)

            // A newer link of the same kind retires the older unused one.
            try await store.createAccountLink(
                AccountLink(id: "lnk_2", kind: .passwordReset, userID: ada.id, createdAt: at(20), expiresAt: at(3620)),
                secretHash: "hash-2")
            try await store.createAccountLink(
                AccountLink(id: "lnk_3", kind: .passwordReset, userID: ada.id, createdAt: at(30), expiresAt: at(3630)),
                secretHash: "hash-3")
            #expect(try await store.useAccountLink(kind: .passwordReset, secretHash: "hash-2", at: at(40)) == nil)
            #expect(
                try await store.useAccountLink(kind: .passwordReset, secretHash: "hash-3", at: at(40))?.id == "lnk_3")
        }
    }

    @Test(arguments: StoreKind.available)
    func identitiesAreFoundByIssuerAndSubjectAndBelongToOnePerson(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let ada = user("ada@example.com"), bob = user("bob@example.com")
            try await store.createUser(ada, passwordHash: "h")
            try await store.createUser(bob, passwordHash: "h")
            let identity = LinkedIdentity(
                id: "idn_1", userID: ada.id, provider: "oidc", issuer: "https://id.example.com", subject: "sub-1",
                email: "ada@example.com", createdAt: at(0), lastUsedAt: at(0))
            try await store.linkIdentity(identity)
            #expect(try await store.identity(issuer: "https://id.example.com", subject: "sub-1") == identity)
            #expect(try await store.identity(issuer: "https://other.example.com", subject: "sub-1") == nil)
            // The same identity cannot be linked to a second account.
            var again = identity
            (again.id, again.userID) = ("idn_2", bob.id)
            await #expect(throws: TallyError.self) { try await store.linkIdentity(again) }
            try await store.touchIdentity(id: "idn_1", at: at(50))
            #expect(try await store.identities(userID: ada.id).map(\.lastUsedAt) == [at(50)])
            #expect(try await store.identities(userID: bob.id).isEmpty)
            // Another person cannot unlink it.
            await #expect(throws: TallyError.self) { try await store.unlinkIdentity(userID: bob.id, id: "idn_1") }
            try await store.unlinkIdentity(userID: ada.id, id: "idn_1")
            #expect(try await store.identity(issuer: "https://id.example.com", subject: "sub-1") == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func flowsAndChallengesAreTakenOnceAndExpire(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let ada = user("ada@example.com")
            try await store.createUser(ada, passwordHash: "h")
            let flow = SignInFlow(
                provider: "oidc", nonce: "n", codeVerifier: "v", next: "/usage", linkUserID: nil, expiresAt: at(600))
            try await store.saveSignInFlow(flow, stateHash: "state-1")
            try await store.saveSignInFlow(flow, stateHash: "state-2")
            #expect(try await store.takeSignInFlow(stateHash: "state-1", at: at(10)) == flow)
            #expect(try await store.takeSignInFlow(stateHash: "state-1", at: at(11)) == nil)
            #expect(try await store.takeSignInFlow(stateHash: "state-2", at: at(600)) == nil)

            let challenge = LoginChallenge(userID: ada.id, expiresAt: at(300), next: "/")
            try await store.saveLoginChallenge(challenge, secretHash: "c-1")
            #expect(try await store.loginChallenge(secretHash: "c-1", at: at(10)) == challenge)
            #expect(try await store.loginChallenge(secretHash: "c-1", at: at(300)) == nil)
            try await store.deleteLoginChallenge(secretHash: "c-1")
            #expect(try await store.loginChallenge(secretHash: "c-1", at: at(10)) == nil)

            try await store.saveLoginChallenge(challenge, secretHash: "c-2")
            try await store.deleteExpiredSignInState(before: at(1000))
            #expect(try await store.loginChallenge(secretHash: "c-2", at: at(10)) == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func twoFactorStepsAreUsedOnceInOrderAndRecoveryCodesOnce(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let ada = user("ada@example.com")
            try await store.createUser(ada, passwordHash: "h")
            try await store.beginTwoFactor(userID: ada.id, sealedSecret: "sealed-1")
            var security = try await store.userSecurity(userID: ada.id)
            #expect(security.totpSecret == "sealed-1" && !security.twoFactorEnabled)
            try await store.enableTwoFactor(userID: ada.id, recoveryCodeHashes: ["r1", "r2"], usedStep: 100, at: at(0))
            security = try await store.userSecurity(userID: ada.id)
            #expect(security.twoFactorEnabled && security.unusedRecoveryCodes == 2)

            // The confirming code's step, and any earlier one, is a replay.
            #expect(try await !store.useTwoFactorStep(userID: ada.id, step: 100))
            #expect(try await !store.useTwoFactorStep(userID: ada.id, step: 99))
            #expect(try await store.useTwoFactorStep(userID: ada.id, step: 101))
            #expect(try await !store.useTwoFactorStep(userID: ada.id, step: 101))

            #expect(try await store.useRecoveryCode(userID: ada.id, codeHash: "r1", at: at(5)))
            #expect(try await !store.useRecoveryCode(userID: ada.id, codeHash: "r1", at: at(6)))
            #expect(try await !store.useRecoveryCode(userID: ada.id, codeHash: "nope", at: at(6)))
            #expect(try await store.userSecurity(userID: ada.id).unusedRecoveryCodes == 1)

            try await store.disableTwoFactor(userID: ada.id)
            security = try await store.userSecurity(userID: ada.id)
            #expect(!security.twoFactorEnabled && security.totpSecret == nil && security.unusedRecoveryCodes == 0)
            #expect(try await !store.useRecoveryCode(userID: ada.id, codeHash: "r2", at: at(7)))
        }
    }

    @Test(arguments: StoreKind.available)
    func rulesInvitesAndOrganizationsByName(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            #expect(try await store.signInRules(organizationID: org.id) == OrganizationSignInRules())
            let rules = OrganizationSignInRules(requireSSO: true, requireTwoFactor: true)
            try await store.setSignInRules(organizationID: org.id, rules)
            #expect(try await store.signInRules(organizationID: org.id) == rules)
            try await store.setSignInRules(organizationID: org.id, OrganizationSignInRules(requireTwoFactor: true))
            #expect(try await store.signInRules(organizationID: org.id).requireSSO == false)

            #expect(try await store.organizationID(idOrName: org.id) == org.id)
            #expect(try await store.organizationID(idOrName: org.name) == org.id)
            #expect(try await store.organizationID(idOrName: "no such organization") == nil)

            let now = Instant.now
            let invite = Invite(
                id: "inv_1", organizationID: org.id, email: "new@example.com", role: .member, createdBy: "usr_x",
                createdAt: now, expiresAt: Instant(microseconds: now.microseconds + 3_600_000_000))
            try await store.createInvite(invite, secretHash: "invite-hash")
            #expect(try await store.usableInvites(email: "NEW@example.com", at: now).map(\.id) == ["inv_1"])
            #expect(
                try await store.usableInvites(
                    email: "new@example.com", at: Instant(microseconds: now.microseconds + 7_200_000_000)
                ).isEmpty)
        }
    }
}
