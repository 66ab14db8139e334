import TallyCore
import TallyServices
import Testing

private let org = "org_a"
private let owner = Principal(
    .user(
        User(id: "usr_a", email: "ada@example.com", name: "Ada", createdAt: .now), .owner,
        Session(id: "ses_a", userID: "usr_a", organizationID: org, csrfToken: "c", createdAt: .now, lastSeenAt: .now)))

private func invalid(_ field: String, _ reason: String) -> TallyError {
    .invalid([FieldProblem(field: field, reason: reason)])
}

@Suite struct ConnectionRulesTests {
    @Test func provider() throws {
        #expect(throws: invalid("provider", "is required: openai, anthropic or google")) {
            try ConnectionRules.provider(nil)
        }
        #expect(throws: invalid("provider", "must be openai, anthropic or google")) {
            try ConnectionRules.provider("OpenAI")
        }
        #expect(try ConnectionRules.provider("anthropic") == .anthropic)
    }

    @Test func keysAreTrimmedAndBounded() throws {
        #expect(try ConnectionRules.key(nil, field: "api_key") == nil)
        #expect(try ConnectionRules.key("  sk-12345678 ", field: "api_key") == "sk-12345678")
        let reason = "must be the provider's key: 8 to 4096 characters, no spaces"
        #expect(throws: invalid("api_key", reason)) { try ConnectionRules.key("short", field: "api_key") }
        #expect(throws: invalid("admin_key", reason)) { try ConnectionRules.key("sk-1234 5678", field: "admin_key") }
        #expect(throws: invalid("admin_key", reason)) {
            try ConnectionRules.key(String(repeating: "k", count: 4097), field: "admin_key")
        }
    }

    @Test func aKeyIsRequiredAndGoogleHasNoAdminKeys() throws {
        #expect(throws: invalid("api_key", "is required (or admin_key)")) {
            try ConnectionRules.keys(.openai, apiKey: nil, adminKey: nil)
        }
        #expect(throws: invalid("admin_key", "google has no admin keys")) {
            try ConnectionRules.keys(.google, apiKey: "AIza12345678", adminKey: "AIza12345678")
        }
        try ConnectionRules.keys(.openai, apiKey: nil, adminKey: "sk-admin-12345678")
    }

    @Test func baseURL() throws {
        #expect(try ConnectionRules.baseURL(nil) == nil)
        #expect(try ConnectionRules.baseURL("") == nil)
        #expect(
            try ConnectionRules.baseURL("https://my-resource.openai.azure.com//")
                == "https://my-resource.openai.azure.com")
        let refused = invalid(
            "base_url",
            "must be an http(s) URL such as https://my-resource.openai.azure.com, without credentials or query")
        for raw in [
            "ftp://example.com", "https://user:pw@example.com", "https://example.com/?a=1", "https://example.com/#x",
            "example.com",
        ] {
            #expect(throws: refused) { try ConnectionRules.baseURL(raw) }
        }
    }

    @Test func gatewayEndpoints() throws {
        #expect(try ConnectionRules.gatewayEndpoints(nil) == nil)
        #expect(try ConnectionRules.gatewayEndpoints("all") == .all)
        #expect(
            throws: invalid(
                "gateway_endpoints",
                "must be inference (the gateway forwards only the provider's inference endpoints) or all")
        ) {
            try ConnectionRules.gatewayEndpoints("everything")
        }
    }

    @Test func name() throws {
        #expect(try ConnectionRules.name(" Work ") == "Work")
        #expect(throws: invalid("name", "must be 1-80 characters")) { try ConnectionRules.name("  ") }
    }
}

@Suite struct ConnectionHealthTests {
    @Test func readsAndWritesTheStoredText() {
        let now = Instant.now
        #expect(ConnectionHealth(validatedAt: nil, validationError: nil) == .unchecked)
        #expect(ConnectionHealth(validatedAt: now, validationError: nil) == .valid)
        #expect(
            ConnectionHealth(validatedAt: now, validationError: "openai answered 401: bad key")
                == .rejected("openai answered 401: bad key"))
        let refused = ConnectionHealth(validatedAt: now, validationError: "needs a new admin key: invalid_api_key: no")
        #expect(refused == .adminKeyRejected("invalid_api_key: no"))
        #expect(refused.problem == "needs a new admin key: invalid_api_key: no")
        #expect(ConnectionHealth.valid.problem == nil && ConnectionHealth.unchecked.problem == nil)
    }

    @Test func recordingAFailureKeepsWhenTheKeysLastWorked() {
        let then = Instant(seconds: 1_800_000_000), now = Instant(seconds: 1_800_000_600)
        var c = ProviderConnection(
            id: "conn_1", organizationID: org, provider: .openai, name: "n", baseURL: nil, apiKey: nil,
            apiKeyMask: nil, adminKey: nil, adminKeyMask: nil, validatedAt: then, validationError: nil,
            createdAt: then, updatedAt: then)
        c.record(.adminKeyRejected("no"), at: now)
        #expect(c.validatedAt == then && c.validationError == "needs a new admin key: no")
        #expect(c.health == .adminKeyRejected("no"))
        c.record(.valid, at: now)
        #expect(c.validatedAt == now && c.validationError == nil)
        c.record(.unchecked, at: now)
        #expect(c.validatedAt == nil && c.health == .unchecked)
    }
}

@Suite struct ConnectionServiceTests {
    let store = InMemoryStore()
    let vault = Vault(master: MasterKey.generate())

    @Test func refusedWithoutAVault() async throws {
        let service = ConnectionService(store: store, vault: nil)
        let draft = ConnectionDraft(
            provider: .openai, name: "openai", apiKey: "sk-12345678901234", adminKey: nil, baseURL: nil, validate: false
        )
        await #expect(
            throws: TallyError.conflict(
                "the provider-key vault is not configured: set TALLY_MASTER_KEY or TALLY_MASTER_KEY_FILE")
        ) {
            _ = try await service.create(draft, principal: owner)
        }
        #expect(try await store.connections(organizationID: org).isEmpty)
    }

    @Test func createsSealedAndMaskedWithoutValidating() async throws {
        let service = ConnectionService(store: store, vault: vault)
        let draft = ConnectionDraft(
            provider: .openai, name: "Work", apiKey: "sk-12345678901234", adminKey: nil, baseURL: nil,
            gatewayEndpoints: .all, validate: false)
        let c = try await service.create(draft, principal: owner)
        #expect(c.apiKeyMask == "sk-…1234" && c.adminKey == nil && c.gatewayEndpoints == .all)
        #expect(c.health == .unchecked && c.validatedAt == nil)
        #expect(try service.secrets(c, vault: vault).apiKey == "sk-12345678901234")
        #expect(try await store.connection(organizationID: org, id: c.id) == c)
        #expect(store.audit.map(\.action) == ["connection.create"])
    }

    @Test func aDraftWithoutAKeyIsRefused() async throws {
        let service = ConnectionService(store: store, vault: vault)
        await #expect(throws: invalid("api_key", "is required (or admin_key)")) {
            _ = try await service.create(
                ConnectionDraft(
                    provider: .openai, name: "n", apiKey: nil, adminKey: nil, baseURL: nil, validate: false),
                principal: owner)
        }
        #expect(try await store.connections(organizationID: org).isEmpty)
    }

    @Test func aNewBaseURLNeedsTheKeysAgain() async throws {
        let service = ConnectionService(store: store, vault: vault)
        let c = try await service.create(
            ConnectionDraft(
                provider: .openai, name: "Work", apiKey: "sk-12345678901234", adminKey: "sk-admin-12345678",
                baseURL: nil, validate: false), principal: owner)
        await #expect(
            throws: invalid(
                "base_url",
                "a new base_url needs the connection's keys again (api_key and admin_key), so a stored key is never sent to a new host"
            )
        ) {
            _ = try await service.update(
                c,
                ConnectionChanges(apiKey: "sk-99999999999999", baseURL: .some("https://example.com"), validate: false),
                principal: owner)
        }
        // The same base URL (none) is no move: a rename and a new key need nothing more.
        let renamed = try await service.update(
            c, ConnectionChanges(name: "Home", apiKey: "sk-99999999999999", baseURL: .some(nil), validate: false),
            principal: owner)
        #expect(renamed.name == "Home" && renamed.apiKeyMask == "sk-…9999" && renamed.health == .unchecked)
        #expect(try service.secrets(renamed, vault: vault).adminKey == "sk-admin-12345678")
    }
}
