import Foundation
import TallyCore

/// Provider connections: validated, sealed, masked. Plaintext keys live only inside these calls.
public struct ConnectionService<Store: ConnectionStore>: Sendable {
    package let store: Store
    /// nil when no master key is configured (PostgreSQL without TALLY_MASTER_KEY): connections are then refused.
    package let vault: Vault?
    package let validator: ProviderValidator

    public init(store: Store, vault: Vault?, validator: ProviderValidator = ProviderValidator()) {
        self.store = store
        self.vault = vault
        self.validator = validator
    }

    /// The vault, or the refusal every connection call answers without one (before it reads the request's body).
    public func requireVault() throws -> Vault {
        guard let vault else {
            throw TallyError.conflict(
                "the provider-key vault is not configured: set TALLY_MASTER_KEY or TALLY_MASTER_KEY_FILE")
        }
        return vault
    }

    /// Refuses a base URL that is, or resolves to, an address Tally does not call (checked again at every call, so a
    /// name that later resolves elsewhere gains nothing).
    package func checkUpstream(_ baseURL: String?) async throws {
        guard let baseURL else { return }
        do {
            _ = try await validator.http.route(baseURL)
        } catch {
            throw TallyError.upstreamNotAllowed(field: "base_url", message: error.description)
        }
    }

    /// Checks each given key with the provider; a refusal stops everything and nothing is saved.
    package func validate(_ provider: ProviderKind, baseURL: String?, apiKey: String?, adminKey: String?) async throws {
        for (key, admin) in [(apiKey, false), (adminKey, true)] {
            guard let key else { continue }
            switch await validator.validate(provider, baseURL: baseURL, key: key, admin: admin) {
            case .valid: continue
            case .rejected(let status, let message):
                throw TallyError.providerRejected(
                    field: admin ? "admin_key" : "api_key",
                    message: "\(provider.rawValue) answered \(status)\(admin ? " for the admin_key" : ""): \(message)")
            case .unreachable(let message):
                throw TallyError.providerRejected(field: admin ? "admin_key" : "api_key", message: message)
            case .notAllowed(let refused):
                throw TallyError.upstreamNotAllowed(field: "base_url", message: refused.description)
            }
        }
    }

    /// Checks the upstream and (unless `draft.validate` is false) the keys with the provider, then seals and saves.
    public func create(_ draft: ConnectionDraft, principal: Principal) async throws -> ProviderConnection {
        let vault = try requireVault()
        let provider = draft.provider, name = draft.name, apiKey = draft.apiKey, adminKey = draft.adminKey
        let baseURL = draft.baseURL, endpoints = draft.gatewayEndpoints, shouldValidate = draft.validate
        // A draft read from a request passed this already; one built otherwise may not hold a key.
        try ConnectionRules.keys(provider, apiKey: apiKey, adminKey: adminKey)
        try await checkUpstream(baseURL)
        if shouldValidate { try await validate(provider, baseURL: baseURL, apiKey: apiKey, adminKey: adminKey) }

        let now = Instant.now
        let id = Identifier.make("conn", length: 16)
        let org = principal.organizationID
        var connection = ProviderConnection(
            id: id, organizationID: org, provider: provider, name: name, baseURL: baseURL,
            apiKey: try apiKey.map { try vault.seal($0, organizationID: org, connectionID: id, field: .apiKey) },
            apiKeyMask: apiKey.map(ProviderConnection.mask),
            adminKey: try adminKey.map { try vault.seal($0, organizationID: org, connectionID: id, field: .adminKey) },
            adminKeyMask: adminKey.map(ProviderConnection.mask),
            validatedAt: nil, validationError: nil, createdAt: now, updatedAt: now,
            gatewayEndpoints: endpoints
        )
        connection.record(shouldValidate ? .valid : .unchecked, at: now)
        try await store.createConnection(
            connection,
            audit: .make(
                organizationID: org, actor: principal.actor, action: "connection.create",
                detail: [
                    ("id", .string(id)), ("provider", .string(provider.rawValue)), ("name", .string(name)),
                    ("validated", .bool(shouldValidate)), ("gateway_endpoints", .string(endpoints.rawValue)),
                ], at: now))
        return connection
    }

    public func find(_ id: String, principal: Principal) async throws -> ProviderConnection {
        guard let c = try await store.connection(organizationID: principal.organizationID, id: id) else {
            throw TallyError.notFound("provider connection '\(id)'")
        }
        return c
    }

    /// Applies `changes` to `current` (as `find` read it): a new base URL needs the keys again; changed keys or base
    /// URL are checked with the provider unless `changes.validate` is false.
    public func update(_ current: ProviderConnection, _ changes: ConnectionChanges, principal: Principal) async throws
        -> ProviderConnection
    {
        let vault = try requireVault()
        var c = current
        if let name = changes.name { c.name = name }
        let endpointsBefore = c.gatewayEndpoints
        if let endpoints = changes.gatewayEndpoints { c.gatewayEndpoints = endpoints }
        let apiKey = changes.apiKey
        let adminKey = changes.adminKey
        if let baseURL = changes.baseURL {
            // A stored key never goes to a new host: whoever moves the connection supplies its keys again.
            if baseURL != c.baseURL, (c.apiKey != nil && apiKey == nil) || (c.adminKey != nil && adminKey == nil) {
                throw TallyError.invalid([
                    FieldProblem(
                        field: "base_url",
                        reason:
                            "a new base_url needs the connection's keys again (api_key\(c.adminKey != nil ? " and admin_key" : "")), so a stored key is never sent to a new host"
                    )
                ])
            }
            try await checkUpstream(baseURL)
            c.baseURL = baseURL
        }
        let shouldValidate = changes.validate
        let keysChanged = apiKey != nil || adminKey != nil || changes.baseURL != nil
        if keysChanged, shouldValidate {
            let current = try secrets(c, vault: vault)
            try await validate(
                c.provider, baseURL: c.baseURL, apiKey: apiKey ?? current.apiKey, adminKey: adminKey ?? current.adminKey
            )
        }
        if let apiKey {
            c.apiKey = try vault.seal(apiKey, organizationID: c.organizationID, connectionID: c.id, field: .apiKey)
            c.apiKeyMask = ProviderConnection.mask(apiKey)
        }
        if let adminKey {
            c.adminKey = try vault.seal(
                adminKey, organizationID: c.organizationID, connectionID: c.id, field: .adminKey)
            c.adminKeyMask = ProviderConnection.mask(adminKey)
        }
        let now = Instant.now
        if keysChanged { c.record(shouldValidate ? .valid : .unchecked, at: now) }
        c.updatedAt = now
        var detail: [(String, JSONValue)] = [
            ("id", .string(c.id)), ("name", .string(c.name)), ("replaced_api_key", .bool(apiKey != nil)),
            ("replaced_admin_key", .bool(adminKey != nil)),
        ]
        if c.gatewayEndpoints != endpointsBefore {
            detail.append(("gateway_endpoints", .string(c.gatewayEndpoints.rawValue)))
        }
        try await store.updateConnection(
            c,
            audit: .make(
                organizationID: c.organizationID, actor: principal.actor, action: "connection.update", detail: detail,
                at: now))
        return c
    }

    public func delete(_ id: String, principal: Principal) async throws {
        try await store.deleteConnection(
            organizationID: principal.organizationID, id: id,
            audit: .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "connection.delete",
                detail: [("id", .string(id))]))
    }

    /// Re-validates the stored keys now and records the result.
    public func test(_ id: String, principal: Principal) async throws -> (
        ok: Bool, error: String?, connection: ProviderConnection
    ) {
        let vault = try requireVault()
        var c = try await find(id, principal: principal)
        var failure: String?
        do {
            let keys = try secrets(c, vault: vault)
            try await validate(c.provider, baseURL: c.baseURL, apiKey: keys.apiKey, adminKey: keys.adminKey)
        } catch let e as Vault.Failure {
            failure = e.description
        } catch TallyError.providerRejected(_, let message) {
            failure = message
        } catch TallyError.upstreamNotAllowed(let field, let message) {
            failure = "\(field) \(message)"
        }
        let now = Instant.now
        c.record(failure.map(ConnectionHealth.rejected) ?? .valid, at: now)
        c.updatedAt = now
        try await store.updateConnection(
            c,
            audit: .make(
                organizationID: c.organizationID, actor: principal.actor, action: "connection.test",
                detail: [("id", .string(c.id)), ("ok", .bool(failure == nil))], at: now))
        return (failure == nil, failure, c)
    }

    /// The plaintext keys of a connection, for the gateway and the provider sync.
    public func secrets(_ c: ProviderConnection, vault: Vault) throws(Vault.Failure) -> (
        apiKey: String?, adminKey: String?
    ) {
        (
            try c.apiKey.map { s throws(Vault.Failure) in
                try vault.open(s, organizationID: c.organizationID, connectionID: c.id, field: .apiKey)
            },
            try c.adminKey.map { s throws(Vault.Failure) in
                try vault.open(s, organizationID: c.organizationID, connectionID: c.id, field: .adminKey)
            }
        )
    }
}
