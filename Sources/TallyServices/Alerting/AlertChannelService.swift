import TallyCore

/// Alert channels: checked, their secrets sealed, changes audited. A webhook's URL is checked against the upstream
/// address policy here and again at every delivery (DNS can change); the secrets never leave except to be used.
public struct AlertChannelService<Store: AlertChannelStore>: Sendable {
    package let store: Store
    /// nil when no master key is configured: channels with a secret are then refused.
    package let vault: Vault?
    package let http: UpstreamHTTP

    public init(store: Store, vault: Vault?, http: UpstreamHTTP) {
        self.store = store
        self.vault = vault
        self.http = http
    }

    func requireVault(for kind: AlertChannelKind) throws -> Vault {
        guard let vault else {
            throw TallyError.conflict(
                "a \(kind.rawValue) channel's secret is sealed by the vault, which is not configured: "
                    + "set TALLY_MASTER_KEY or TALLY_MASTER_KEY_FILE")
        }
        return vault
    }

    /// Refuses a URL whose host is, or resolves to, an address Tally does not call.
    func checkReachable(_ url: String, field: String) async throws {
        do {
            _ = try await http.route(url)
        } catch {
            throw TallyError.upstreamNotAllowed(field: field, message: error.description)
        }
    }

    public func create(_ draft: AlertChannelDraft, principal: Principal) async throws -> AlertChannel {
        let org = principal.organizationID
        let id = Identifier.make("ch")
        let now = Instant.now
        let name = try AlertChannelRules.name(draft.name ?? Self.defaultName(draft.kind))
        var channel = AlertChannel(
            id: id, organizationID: org, name: name, kind: draft.kind, targets: [], sealedSecret: nil,
            createdAt: now, updatedAt: now)
        switch draft.kind {
        case .email:
            channel.targets = try AlertChannelRules.recipients(draft.to)
        case .webhook:
            let url = try AlertChannelRules.url(draft.url, field: "url")
            let secret = try draft.secret.map(AlertChannelRules.secret)
            if secret != nil { _ = try requireVault(for: .webhook) }
            try await checkReachable(url, field: "url")
            channel.targets = [url]
            channel.sealedSecret = try secret.map {
                try requireVault(for: .webhook).sealChannelSecret($0, organizationID: org, channelID: id)
            }
        case .slack, .discord:
            let url = try AlertChannelRules.url(draft.webhookURL, field: "webhook_url")
            let vault = try requireVault(for: draft.kind)
            try await checkReachable(url, field: "webhook_url")
            channel.targets = [AlertChannelRules.mask(url)]
            channel.sealedSecret = try vault.sealChannelSecret(url, organizationID: org, channelID: id)
        }
        try await store.createAlertChannel(channel, audit: audit(channel, "alert_channel.create", principal, now))
        return channel
    }

    public func find(_ id: String, principal: Principal) async throws -> AlertChannel {
        guard let c = try await store.alertChannel(organizationID: principal.organizationID, id: id) else {
            throw TallyError.notFound("alert channel '\(id)'")
        }
        return c
    }

    /// Applies `changes` to `current` (as `find` read it). Fields of another kind are refused by name.
    public func update(_ current: AlertChannel, _ changes: AlertChannelChanges, principal: Principal) async throws
        -> AlertChannel
    {
        var c = current
        let now = Instant.now
        func refuse(_ field: String) -> TallyError {
            .invalid([FieldProblem(field: field, reason: "does not apply to a \(c.kind.rawValue) channel")])
        }
        if let name = changes.name { c.name = try AlertChannelRules.name(name) }
        switch c.kind {
        case .email:
            if changes.url != nil { throw refuse("url") }
            if changes.secret != nil { throw refuse("secret") }
            if changes.webhookURL != nil { throw refuse("webhook_url") }
            if let to = changes.to { c.targets = try AlertChannelRules.recipients(to) }
        case .webhook:
            if changes.to != nil { throw refuse("to") }
            if changes.webhookURL != nil { throw refuse("webhook_url") }
            if let raw = changes.url {
                let url = try AlertChannelRules.url(raw, field: "url")
                try await checkReachable(url, field: "url")
                c.targets = [url]
            }
            if let secret = changes.secret {
                c.sealedSecret = try secret.map {
                    try requireVault(for: .webhook).sealChannelSecret(
                        try AlertChannelRules.secret($0), organizationID: c.organizationID, channelID: c.id)
                }
            }
        case .slack, .discord:
            if changes.to != nil { throw refuse("to") }
            if changes.url != nil { throw refuse("url") }
            if changes.secret != nil { throw refuse("secret") }
            if let raw = changes.webhookURL {
                let url = try AlertChannelRules.url(raw, field: "webhook_url")
                let vault = try requireVault(for: c.kind)
                try await checkReachable(url, field: "webhook_url")
                c.targets = [AlertChannelRules.mask(url)]
                c.sealedSecret = try vault.sealChannelSecret(url, organizationID: c.organizationID, channelID: c.id)
            }
        }
        c.updatedAt = now
        try await store.updateAlertChannel(c, audit: audit(c, "alert_channel.update", principal, now))
        return c
    }

    public func delete(_ id: String, principal: Principal) async throws {
        let c = try await find(id, principal: principal)
        try await store.deleteAlertChannel(
            organizationID: principal.organizationID, id: id, audit: audit(c, "alert_channel.delete", principal, .now))
    }

    /// Never a target or a secret: the audit log is read by every admin, and kept for a year.
    func audit(_ c: AlertChannel, _ action: String, _ principal: Principal, _ at: Instant) -> AuditRecord {
        .make(
            organizationID: c.organizationID, actor: principal.actor, action: action,
            detail: [("id", .string(c.id)), ("name", .string(c.name)), ("type", .string(c.kind.rawValue))], at: at)
    }

    static func defaultName(_ kind: AlertChannelKind) -> String {
        switch kind {
        case .email: "Email"
        case .webhook: "Webhook"
        case .slack: "Slack"
        case .discord: "Discord"
        }
    }
}
