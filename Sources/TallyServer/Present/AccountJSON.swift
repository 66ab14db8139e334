import TallyCore

/// JSON shapes of people, organizations, projects, tokens, invites, connections and audit records.
enum AccountJSON {
    static func time(_ i: Instant?) -> String? { i?.rfc3339 }

    static func writeOrganization(_ o: Organization, role: Role?, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", o.id)
        w.field("name", o.name)
        w.field("time_zone", o.timeZone)
        w.field("billing_cycle_day", o.billingCycleDay)
        if let role { w.field("role", role.rawValue) }
        w.endObject()
    }

    static func writeMember(_ m: Membership, into w: inout JSONWriter) {
        w.beginObject()
        w.field("user_id", m.user.id)
        w.field("email", m.user.email)
        w.field("name", m.user.name)
        w.field("role", m.role.rawValue)
        w.field("joined_at", time(m.joinedAt))
        w.endObject()
    }

    static func writeProject(_ p: Project, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", p.id)
        w.field("name", p.name)
        w.field("archived", p.archivedAt != nil)
        w.field("archived_at", time(p.archivedAt))
        w.field("created_at", time(p.createdAt))
        w.field("content_capture", p.content.capture.rawValue)
        w.field("content_retention_days", p.content.retentionDays)
        w.endObject()
    }

    static func writeToken(_ t: APIToken, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", t.id)
        w.field("name", t.name)
        w.field("project", t.projectName)
        w.key("scopes")
        w.beginArray()
        for s in t.scopes.sorted() { w.string(s.rawValue) }
        w.endArray()
        w.field("hint", "…" + t.hint)
        w.field("created_by", t.createdBy)
        w.field("created_at", time(t.createdAt))
        w.field("expires_at", time(t.expiresAt))
        w.field("last_used_at", time(t.lastUsedAt))
        w.field("revoked_at", time(t.revokedAt))
        w.endObject()
    }

    static func writeInvite(_ i: Invite, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", i.id)
        w.field("email", i.email)
        w.field("role", i.role.rawValue)
        w.field("created_by", i.createdBy)
        w.field("created_at", time(i.createdAt))
        w.field("expires_at", time(i.expiresAt))
        w.field("accepted_at", time(i.acceptedAt))
        w.field("revoked_at", time(i.revokedAt))
        w.endObject()
    }

    /// Masks only: a sealed key never leaves the server.
    static func writeConnection(_ c: ProviderConnection, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", c.id)
        w.field("provider", c.provider.rawValue)
        w.field("name", c.name)
        w.field("base_url", c.baseURL)
        w.field("api_key", c.apiKeyMask)
        w.field("admin_key", c.adminKeyMask)
        w.field("gateway_endpoints", c.gatewayEndpoints.rawValue)
        w.field("validated", c.health == .valid)
        w.field("validated_at", time(c.validatedAt))
        w.field("validation_error", c.health.problem)
        w.field("created_at", time(c.createdAt))
        w.field("updated_at", time(c.updatedAt))
        w.endObject()
    }

    static func connection(_ c: ProviderConnection) -> String {
        var w = JSONWriter()
        writeConnection(c, into: &w)
        return w.text
    }

    static func writeAudit(_ a: AuditRecord, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", a.id)
        w.field("at", time(a.at))
        w.field("actor", a.actor)
        w.field("action", a.action)
        w.key("detail")
        w.raw((try? JSONParser.parse(Array(a.detail.utf8))).map(JSONWriter.encode) ?? "{}")
        w.endObject()
    }

    // MARK: Whole answers

    static func organization(_ o: Organization, role: Role?) -> String {
        var w = JSONWriter()
        writeOrganization(o, role: role, into: &w)
        return w.text
    }

    static func project(_ p: Project) -> String {
        var w = JSONWriter()
        writeProject(p, into: &w)
        return w.text
    }

    /// The member after a role change; an empty body when the member is gone meanwhile (as before issue 15).
    static func member(_ m: Membership?) -> String {
        var w = JSONWriter()
        if let m { writeMember(m, into: &w) }
        return w.text
    }

    /// `GET /api/v1/me`: a member with their organizations and CSRF token, or a token with its organization.
    static func me(_ principal: Principal, organization org: Organization?, memberships: [Membership]) -> String {
        var w = JSONWriter()
        w.beginObject()
        switch principal.kind {
        case .user(let user, let role, let session):
            w.key("user")
            w.beginObject()
            w.field("id", user.id)
            w.field("email", user.email)
            w.field("name", user.name)
            w.endObject()
            if let org {
                w.key("organization")
                writeOrganization(org, role: role, into: &w)
            }
            w.key("organizations")
            w.beginArray()
            for m in memberships { writeOrganization(m.organization, role: m.role, into: &w) }
            w.endArray()
            w.field("csrf_token", session.csrfToken)
        case .token(let token):
            w.key("token")
            writeToken(token, into: &w)
            if let org {
                w.key("organization")
                writeOrganization(org, role: nil, into: &w)
            }
        }
        w.endObject()
        return w.text
    }

    /// A removed member and the tokens they had made, now revoked.
    static func removedMember(userID: String, revokedTokens: [APIToken]) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("user_id", userID)
        w.key("revoked_tokens")
        w.beginArray()
        for token in revokedTokens { writeToken(token, into: &w) }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// A new token with its secret, shown this once.
    static func createdToken(_ token: APIToken, secret: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("token")
        writeToken(token, into: &w)
        w.field("secret", secret)
        w.endObject()
        return w.text
    }

    static func createdInvite(_ invite: Invite, url: String, mailed: Bool) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("invite")
        writeInvite(invite, into: &w)
        w.field("url", url)
        w.field("mailed", mailed)
        w.endObject()
        return w.text
    }

    /// A connection's key test: the result and the connection as it now stands.
    static func connectionTest(ok: Bool, error: String?, connection: ProviderConnection) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("ok", ok)
        w.field("error", error)
        w.key("connection")
        writeConnection(connection, into: &w)
        w.endObject()
        return w.text
    }
}
