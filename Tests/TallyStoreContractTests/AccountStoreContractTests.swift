import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyGateway
@testable import TallyServices

/// Accounts, sessions, invites, provider connections and the audit log: one contract, both stores.
@Suite(.serialized) struct AccountStoreContractTests {
    func user(_ email: String) -> User { User(id: Identifier.make("usr"), email: email, name: email, createdAt: .now) }

    @Test(arguments: StoreKind.available)
    func usersMembershipsAndTheLastOwner(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            #expect(try await store.userCount() == 0)
            let ada = user("Ada@Example.com"), bob = user("bob@example.com")
            try await store.createUser(ada, passwordHash: "h1")
            try await store.createUser(bob, passwordHash: "h2")
            await #expect(throws: TallyError.self) {
                try await store.createUser(user("ADA@example.com"), passwordHash: "x")
            }
            let found = try #require(try await store.userCredentials(email: " ada@EXAMPLE.com"))
            #expect(found.user.id == ada.id && found.passwordHash == "h1" && found.user.email == "ada@example.com")

            try await store.addMember(organizationID: org.id, userID: ada.id, role: .owner, at: .now)
            try await store.addMember(organizationID: org.id, userID: bob.id, role: .viewer, at: .now)
            // The only owner can be neither demoted nor removed.
            await #expect(throws: TallyError.conflict("an organization must keep at least one owner")) {
                try await store.setRole(organizationID: org.id, userID: ada.id, role: .admin)
            }
            await #expect(throws: TallyError.conflict("an organization must keep at least one owner")) {
                try await store.removeMember(organizationID: org.id, userID: ada.id, at: .now)
            }
            try await store.transferOwnership(organizationID: org.id, from: ada.id, to: bob.id)
            let roles = Dictionary(
                uniqueKeysWithValues: try await store.members(organizationID: org.id).map { ($0.user.id, $0.role) })
            #expect(roles == [ada.id: .admin, bob.id: .owner])
            try await store.removeMember(organizationID: org.id, userID: ada.id, at: .now)
            #expect(try await store.memberships(userID: ada.id).isEmpty)
            await #expect(throws: TallyError.notFound("member '\(ada.id)'")) {
                try await store.setRole(organizationID: org.id, userID: ada.id, role: .viewer)
            }

            // A member of another organization is not found through this one.
            let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(other)
            try await store.addMember(organizationID: other.id, userID: ada.id, role: .owner, at: .now)
            await #expect(throws: TallyError.self) {
                try await store.setRole(organizationID: org.id, userID: ada.id, role: .viewer)
            }
            #expect(try await store.memberships(userID: ada.id).map(\.organization.id) == [other.id])
        }
    }

    @Test(arguments: StoreKind.available)
    func sessionsExpireAndAreRevoked(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let ada = user("ada@example.com")
            try await store.createUser(ada, passwordHash: "h")
            let t0 = Instant(seconds: 1_800_000_000)
            for id in ["s1", "s2", "s3"] {
                try await store.createSession(
                    Session(
                        id: id, userID: ada.id, organizationID: org.id, csrfToken: "c-\(id)",
                        createdAt: t0, lastSeenAt: t0))
            }
            #expect(try await store.session(id: "s1")?.csrfToken == "c-s1")
            try await store.deleteSessions(userID: ada.id, keeping: "s2")
            #expect(try await store.session(id: "s1") == nil)
            #expect(try await store.session(id: "s2") != nil)
            try await store.touchSession(id: "s2", at: Instant(seconds: 1_800_000_100))
            #expect(try await store.session(id: "s2")?.lastSeenAt == Instant(seconds: 1_800_000_100))
            try await store.deleteSessions(
                lastSeenBefore: Instant(seconds: 1_800_000_050), createdBefore: Instant(seconds: 0))
            #expect(try await store.session(id: "s2") != nil)
            try await store.deleteSession(id: "s2")
            #expect(try await store.session(id: "s2") == nil)

            let policy = SessionPolicy(idleMinutes: 1, absoluteHours: 1)
            let s = Session(id: "x", userID: "u", organizationID: "o", csrfToken: "c", createdAt: t0, lastSeenAt: t0)
            #expect(!s.isExpired(at: Instant(seconds: 1_800_000_059), policy: policy))
            #expect(s.isExpired(at: Instant(seconds: 1_800_000_061), policy: policy))

            // Login failures: counted per account and per address within the window.
            for i in 0..<3 {
                try await store.recordLoginFailure(
                    account: "ada@example.com", address: "10.0.0.\(i)", at: Instant(seconds: 100 + Int64(i)))
            }
            let f = try await store.loginFailures(
                account: "ada@example.com", address: "10.0.0.1", since: Instant(seconds: 101))
            #expect(f.account.count == 2 && f.address.count == 1)
            try await store.clearLoginFailures(account: "ada@example.com")
            #expect(
                try await store.loginFailures(account: "ada@example.com", address: "x", since: Instant(seconds: 0))
                    .account.isEmpty)
        }
    }

    @Test(arguments: StoreKind.available)
    func invitesAreAcceptedOnce(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let now = Instant.now
            let invite = Invite(
                id: "inv_1", organizationID: org.id, email: "Cy@Example.com", role: .member, createdBy: "user:x",
                createdAt: now, expiresAt: Instant(microseconds: now.microseconds + 60_000_000))
            try await store.createInvite(invite, secretHash: "hash-1")
            #expect(try await store.invite(secretHash: "hash-1")?.email == "cy@example.com")
            let cy = user("cy@example.com")
            try await store.createUser(cy, passwordHash: "h")
            try await store.acceptInvite(id: "inv_1", userID: cy.id, at: .now)
            #expect(try await store.members(organizationID: org.id).first?.role == .member)
            await #expect(throws: TallyError.gone("this invite has expired or was already used")) {
                try await store.acceptInvite(id: "inv_1", userID: cy.id, at: .now)
            }
            let expired = Invite(
                id: "inv_2", organizationID: org.id, email: "dee@example.com", role: .viewer, createdBy: "user:x",
                createdAt: now, expiresAt: now)
            try await store.createInvite(expired, secretHash: "hash-2")
            await #expect(throws: TallyError.gone("this invite has expired or was already used")) {
                try await store.acceptInvite(id: "inv_2", userID: cy.id, at: .now)
            }
            await #expect(throws: TallyError.notFound("invite 'inv_2'")) {
                try await store.revokeInvite(organizationID: "org_elsewhere", id: "inv_2", at: .now)
            }
            try await store.revokeInvite(organizationID: org.id, id: "inv_2", at: .now)
            #expect(try await store.invites(organizationID: org.id).first { $0.id == "inv_2" }?.revokedAt != nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func connectionsAreScopedAndSecretsRotateAtomically(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let vault = Vault(master: .generate())
            let now = Instant(seconds: 1_800_000_000)
            let sealed = try vault.seal(
                "sk-test-123456789", organizationID: org.id, connectionID: "conn_1", field: .apiKey)
            let c = ProviderConnection(
                id: "conn_1", organizationID: org.id, provider: .openai, name: "main", baseURL: nil,
                apiKey: sealed, apiKeyMask: "sk-…6789", adminKey: nil, adminKeyMask: nil,
                validatedAt: now, validationError: nil, createdAt: now, updatedAt: now)
            try await store.createConnection(
                c, audit: .make(organizationID: org.id, actor: "t", action: "connection.create"))
            await #expect(throws: TallyError.conflict("a provider connection named 'main' already exists")) {
                var twin = c
                twin.id = "conn_2"
                try await store.createConnection(
                    twin, audit: .make(organizationID: org.id, actor: "t", action: "connection.create"))
            }
            #expect(try await store.connection(organizationID: org.id, id: "conn_1") == c)
            #expect(try await store.connection(organizationID: "org_elsewhere", id: "conn_1") == nil)
            await #expect(throws: TallyError.notFound("provider connection 'conn_1'")) {
                try await store.deleteConnection(
                    organizationID: "org_elsewhere", id: "conn_1",
                    audit: .make(organizationID: org.id, actor: "t", action: "x"))
            }

            let next = Vault(master: .generate())
            #expect(try await Vault.rotate(store: store, from: vault, to: next) == 1)
            let rotated = try #require(try await store.connection(organizationID: org.id, id: "conn_1")?.apiKey)
            #expect(rotated.keyID == next.master.id)
            #expect(
                try next.open(rotated, organizationID: org.id, connectionID: "conn_1", field: .apiKey)
                    == "sk-test-123456789")
            #expect(throws: Vault.Failure.sealedUnderAnotherKey(stored: next.master.id, current: vault.master.id)) {
                try vault.open(rotated, organizationID: org.id, connectionID: "conn_1", field: .apiKey)
            }
            // A stale rotation (the secret changed meanwhile) changes nothing.
            let records = try await store.sealedSecrets()
            var stale = records[0]
            stale.secret = sealed
            await #expect(throws: TallyError.self) { try await store.replaceSealedSecrets([(stale, sealed)]) }
            #expect(try await store.connection(organizationID: org.id, id: "conn_1")?.apiKey == rotated)

            let log = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(log.map(\.action) == ["connection.create"])
        }
    }

    @Test(arguments: StoreKind.available)
    func deletingAnOrganizationRemovesEverythingInIt(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let keep = try await store.defaultOrganization(timeZone: "UTC")
            let gone = Organization(id: "org_gone", name: "Gone", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(gone)
            var projects: [String: Project] = [:]
            for org in [keep, gone] {
                let p = try await store.createProject(organizationID: org.id, name: "web")
                projects[org.id] = p
                _ = try await store.insert([
                    EventBatch(
                        organizationID: org.id,
                        events: [
                            stored("e1", "2026-11-20T10:00:00Z", org: org.id, project: p)
                        ])
                ])
                _ = try await TokenSecret.issue(
                    store: store, organizationID: org.id, projectName: "web", scopes: [.read], name: nil)
                try await store.recordAudit(.make(organizationID: org.id, actor: "t", action: "x"))
            }
            let ada = user("ada@example.com")
            try await store.createUser(ada, passwordHash: "h")
            try await store.addMember(organizationID: gone.id, userID: ada.id, role: .owner, at: .now)
            try await store.deleteOrganization(id: gone.id)
            #expect(try await store.organization(id: gone.id) == nil)
            #expect(try await store.tokens(organizationID: gone.id).isEmpty)
            #expect(try await store.projects(organizationID: gone.id).isEmpty)
            #expect(try await store.events(EventQuery(organizationID: gone.id)).events.isEmpty)
            #expect(try await store.auditRecords(organizationID: gone.id, limit: 10, before: nil).isEmpty)
            #expect(try await store.events(EventQuery(organizationID: keep.id)).events.count == 1)
            #expect(try await store.tokens(organizationID: keep.id).count == 1)
            #expect(try await store.user(id: ada.id) != nil)
        }
    }

    /// Events queued for a project (the gateway's recorder, a group commit) can reach the store while its organization
    /// is deleted. Each must land before the deletion (and go with it) or be refused: never stay as rows of nobody.
    @Test(arguments: StoreKind.available)
    func eventsRacingAnOrganizationsDeletionAreDeletedOrRefusedNeverOrphaned(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let gone = Organization(id: "org_gone", name: "Gone", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(gone)
            let web = try await store.createProject(organizationID: gone.id, name: "web")
            // The newest row of another organization: any event of the deleted one left behind would come after it
            // (reads join projects, so rows of nobody are only visible this way).
            let keep = try await store.defaultOrganization(timeZone: "UTC")
            let kept = try await store.createProject(organizationID: keep.id, name: "web")
            _ = try await store.insert([
                EventBatch(
                    organizationID: keep.id,
                    events: [
                        stored("k1", "2026-11-20T10:00:00Z", org: keep.id, project: kept)
                    ])
            ])
            let newest = try await store.latestSequence()
            let event: @Sendable (String) -> EventBatch = { id in
                EventBatch(
                    organizationID: gone.id,
                    events: [
                        stored(id, "2026-11-20T10:00:00Z", org: gone.id, project: web)
                    ])
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        do { _ = try await store.insert([event("e\(i)")]) } catch TallyError.notFound(_) {}
                    }
                }
                group.addTask { try await store.deleteOrganization(id: gone.id) }
                try await group.waitForAll()
            }
            #expect(try await store.latestSequence() == newest)
            // After the deletion, always refused.
            await #expect(throws: TallyError.notFound("project")) { _ = try await store.insert([event("late")]) }
            #expect(try await store.latestSequence() == newest)
        }
    }

    @Test(arguments: StoreKind.available)
    func projectsAreRenamedAndArchivedNotDeleted(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            _ = try await store.createProject(organizationID: org.id, name: "api")
            let when = Instant(seconds: 1_800_000_000)
            try await store.updateProject(organizationID: org.id, id: web.id, name: "site", archivedAt: when)
            let p = try #require(try await store.project(organizationID: org.id, id: web.id))
            #expect(p.name == "site" && p.archivedAt == when)
            await #expect(throws: TallyError.conflict("a project named 'api' already exists")) {
                try await store.updateProject(organizationID: org.id, id: web.id, name: "api", archivedAt: nil)
            }
            await #expect(throws: TallyError.notFound("project '\(web.id)'")) {
                try await store.updateProject(organizationID: "org_elsewhere", id: web.id, name: "x", archivedAt: nil)
            }
            let (token, _) = try await TokenSecret.issue(
                store: store, organizationID: org.id, projectName: "api", scopes: [.ingest], name: nil)
            #expect(token.projectArchived == false)
        }
    }

    // MARK: Issue 14

    /// 40 concurrent attempts for one account: at most 5 take a slot (and would be verified), on either store.
    @Test(arguments: StoreKind.available)
    func loginAttemptSlotsAreTakenAtomically(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let now = Instant.now
            let since = Instant(microseconds: now.microseconds - 900_000_000)
            let taken = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        try await store.takeLoginAttempt(
                            account: "ada@example.com", address: "10.0.0.\(i % 4)", at: now, since: since,
                            accountLimit: 5, addressLimit: 100) == nil
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(taken == 5)
            let recorded = try await store.loginFailures(account: "ada@example.com", address: "10.0.0.0", since: since)
            #expect(recorded.account.count == 5, "refused attempts record nothing")

            // The per-address limit counts every account from that address.
            for i in 0..<3 {
                #expect(
                    try await store.takeLoginAttempt(
                        account: "u\(i)@example.com", address: "192.0.2.1", at: now, since: since,
                        accountLimit: 5, addressLimit: 3) == nil)
            }
            let blocked = try #require(
                try await store.takeLoginAttempt(
                    account: "new@example.com", address: "192.0.2.1", at: now,
                    since: since, accountLimit: 5, addressLimit: 3))
            #expect(blocked.address.count == 3 && blocked.account.isEmpty)
            // Attempts before the window do not count.
            #expect(
                try await store.takeLoginAttempt(
                    account: "new@example.com", address: "192.0.2.1", at: now,
                    since: Instant(microseconds: now.microseconds + 1), accountLimit: 5, addressLimit: 3) == nil)
        }
    }

    /// Owners demoting or removing each other at the same moment never leave the organization without one.
    @Test(arguments: StoreKind.available)
    func concurrentDemotionsKeepAnOwner(kind: StoreKind) async throws {
        try await kind.withStore { store in
            for round in 0..<15 {
                let org = Organization(id: "org_race\(round)", name: "Race \(round)", timeZone: "UTC", createdAt: .now)
                try await store.createOrganization(org)
                let owners = (0..<3).map { user("owner\(round)-\($0)@example.com") }
                for o in owners {
                    try await store.createUser(o, passwordHash: "h")
                    try await store.addMember(organizationID: org.id, userID: o.id, role: .owner, at: .now)
                }
                await withTaskGroup(of: Void.self) { group in
                    for (i, o) in owners.enumerated() {
                        group.addTask {
                            if i == 0 {
                                _ = try? await store.removeMember(organizationID: org.id, userID: o.id, at: .now)
                            } else {
                                try? await store.setRole(organizationID: org.id, userID: o.id, role: .admin)
                            }
                        }
                    }
                }
                let remaining = try await store.members(organizationID: org.id).filter { $0.role == .owner }
                #expect(remaining.count == 1, "round \(round): \(remaining.count) owners left")
            }
        }
    }

    /// A token's creator is read with it: their current role, or none once they left; the CLI's tokens have none.
    @Test(arguments: StoreKind.available)
    func tokensKnowTheirCreatorsRoleAndRemovalRevokesThem(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let project = try await store.createProject(organizationID: org.id, name: "web")
            let owner = user("owner@example.com"), ada = user("ada@example.com")
            for (u, role) in [(owner, Role.owner), (ada, .admin)] {
                try await store.createUser(u, passwordHash: "h")
                try await store.addMember(organizationID: org.id, userID: u.id, role: role, at: .now)
            }
            func make(_ id: String, by creator: String?) async throws {
                try await store.createToken(
                    APIToken(
                        id: id, organizationID: org.id, projectID: project.id, projectName: "web", name: nil,
                        scopes: [.admin], hint: "abcd", createdAt: .now, createdBy: creator),
                    secretHash: "hash-\(id)")
            }
            try await make("tok_ada", by: ada.id)
            try await make("tok_cli", by: nil)
            try await make("tok_owner", by: owner.id)
            #expect(try await store.token(secretHash: "hash-tok_ada")?.creator == .member(.admin))
            #expect(try await store.token(secretHash: "hash-tok_cli")?.creator == .unattended)
            try await store.setRole(organizationID: org.id, userID: ada.id, role: .viewer)
            let capped = try #require(try await store.token(secretHash: "hash-tok_ada")?.cappedByCreator())
            #expect(capped.scopes == [.read])

            let revoked = try await store.removeMember(
                organizationID: org.id, userID: ada.id, at: Instant(seconds: 1_900_000_000))
            #expect(revoked.map(\.id) == ["tok_ada"] && revoked.first?.revokedAt == Instant(seconds: 1_900_000_000))
            let gone = try #require(try await store.token(secretHash: "hash-tok_ada"))
            #expect(gone.creator == .departed && gone.revokedAt != nil && gone.cappedByCreator() == nil)
            #expect(try await store.token(secretHash: "hash-tok_owner")?.revokedAt == nil)
        }
    }
}
