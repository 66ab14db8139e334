import Foundation
import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// The signed-in person, organizations, members, invites and the audit log.
struct AccountsController<Store: AuthenticationStore & AccountServiceStore> {
    let store: Store
    let auth: Authenticator<Store>
    let accounts: AccountService<Store>
    /// Told `.members` after a member's role changes or a member is removed: the gateway forgets the tokens it
    /// remembers, so a demoted or removed creator's tokens are capped or refused at once on this replica (others within 5 s).
    let changes: ChangeNotifier

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("me", use: me)
        group.post("me/password", use: changePassword)
        group.get("organizations", use: organizations)
        group.post("organizations", use: createOrganization)
        group.post("organizations/:id/switch", use: switchOrganization)
        group.get("organization", use: organization)
        group.patch("organization", use: updateOrganization)
        group.delete("organization", use: deleteOrganization)
        group.post("organization/transfer", use: transfer)
        group.get("members", use: members)
        group.patch("members/:id", use: setRole)
        group.delete("members/:id", use: removeMember)
        group.get("invites", use: invites)
        group.post("invites", use: createInvite)
        group.delete("invites/:id", use: revokeInvite)
        group.get("audit", use: audit)
    }

    @Sendable func me(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        let org = try await store.organization(id: principal.organizationID)
        var memberships: [Membership] = []
        if let user = principal.user { memberships = try await store.memberships(userID: user.id) }
        return .json(AccountJSON.me(principal, organization: org, memberships: memberships))
    }

    @Sendable func changePassword(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        let fields = try JSONBody.Fields(
            try await JSONBody.read(request), allowed: ["current_password", "new_password"])
        try await accounts.changePassword(
            principal, current: try fields.string("current_password") ?? "",
            new: try fields.string("new_password") ?? "")
        return Response(status: .noContent)
    }

    @Sendable func organizations(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        if let user = principal.user {
            let list = try await store.memberships(userID: user.id)
            return .json(
                ListJSON.list(list) { m, w in AccountJSON.writeOrganization(m.organization, role: m.role, into: &w) })
        }
        let org = try await store.organization(id: principal.organizationID)
        return .json(
            ListJSON.list(org.map { [$0] } ?? []) { o, w in AccountJSON.writeOrganization(o, role: nil, into: &w) })
    }

    @Sendable func createOrganization(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["name", "time_zone"])
        let org = try await accounts.createOrganization(
            principal, name: try fields.string("name") ?? "",
            timeZone: try fields.string("time_zone") ?? "UTC")
        return .json(AccountJSON.organization(org, role: .owner), status: .created)
    }

    @Sendable func switchOrganization(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.principal(request)
        try await accounts.switchOrganization(principal, to: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func organization(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        guard let org = try await store.organization(id: principal.organizationID) else {
            throw TallyError.notFound("organization")
        }
        return .json(AccountJSON.organization(org, role: principal.role))
    }

    @Sendable func updateOrganization(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.editOrganization, request)
        guard var org = try await store.organization(id: principal.organizationID) else {
            throw TallyError.notFound("organization")
        }
        let fields = try JSONBody.Fields(
            try await JSONBody.read(request), allowed: ["name", "time_zone", "billing_cycle_day"])
        if let name = try fields.string("name") { org.name = try DisplayName.validated(name, field: "name") }
        if let zone = try fields.string("time_zone") { org.timeZone = try TimeZoneRules.validated(zone) }
        if let day = try fields.integer("billing_cycle_day") {
            guard Organization.billingCycleDays.contains(day) else {
                throw TallyError.invalid([
                    FieldProblem(field: "billing_cycle_day", reason: "must be a day of the month from 1 to 28")
                ])
            }
            org.billingCycleDay = day
        }
        try await store.updateOrganization(org)
        try await store.recordAudit(
            .make(
                organizationID: org.id, actor: principal.actor, action: "organization.update",
                detail: [
                    ("name", .string(org.name)), ("time_zone", .string(org.timeZone)),
                    ("billing_cycle_day", .number(String(org.billingCycleDay))),
                ]))
        return .json(AccountJSON.organization(org, role: principal.role))
    }

    /// Deletes the organization with all its data; the body must repeat its name, so it is never an accident.
    @Sendable func deleteOrganization(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.deleteOrganization, request)
        guard let org = try await store.organization(id: principal.organizationID) else {
            throw TallyError.notFound("organization")
        }
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["confirm"])
        guard try fields.string("confirm") == org.name else {
            throw TallyError.invalid([
                FieldProblem(field: "confirm", reason: "must be the organization's name, '\(org.name)'")
            ])
        }
        try await store.deleteOrganization(id: org.id)
        // The gateway remembers tokens and connections (with their opened keys) for 5 s: forget them now, or a gateway
        // token of the deleted organization would still forward with its key, and record events for no organization.
        changes.notify(.members)
        return Response(status: .noContent)
    }

    @Sendable func transfer(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.transferOwnership, request)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["user_id"])
        guard let userID = try fields.string("user_id") else {
            throw TallyError.invalid([FieldProblem(field: "user_id", reason: "is required")])
        }
        try await accounts.transferOwnership(principal, to: userID)
        return Response(status: .noContent)
    }

    @Sendable func members(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let list = try await store.members(organizationID: principal.organizationID)
        return .json(ListJSON.list(list, AccountJSON.writeMember))
    }

    static func role(_ fields: JSONBody.Fields) throws -> Role {
        guard let raw = try fields.string("role") else {
            throw TallyError.invalid([FieldProblem(field: "role", reason: "is required")])
        }
        guard let role = Role(rawValue: raw) else {
            throw TallyError.invalid([FieldProblem(field: "role", reason: "must be owner, admin, member or viewer")])
        }
        return role
    }

    @Sendable func setRole(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageMembers, request)
        let userID = try context.parameters.require("id")
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["role"])
        try await accounts.setRole(principal, userID: userID, role: try Self.role(fields))
        let member = try await store.members(organizationID: principal.organizationID).first { $0.user.id == userID }
        changes.notify(.members)
        return .json(AccountJSON.member(member))
    }

    @Sendable func removeMember(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageMembers, request)
        let userID = try context.parameters.require("id")
        let revoked = try await accounts.removeMember(principal, userID: userID)
        changes.notify(.members)
        return .json(AccountJSON.removedMember(userID: userID, revokedTokens: revoked))
    }

    @Sendable func invites(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageMembers, request)
        return .json(
            ListJSON.list(try await store.invites(organizationID: principal.organizationID), AccountJSON.writeInvite))
    }

    @Sendable func createInvite(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageMembers, request)
        // An open sign-up not yet verified must not make Tally mail strangers.
        try await accounts.requireVerifiedEmail(principal)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["email", "role"])
        guard let email = try fields.string("email") else {
            throw TallyError.invalid([FieldProblem(field: "email", reason: "is required")])
        }
        let created = try await accounts.invite(principal, email: email, role: try Self.role(fields))
        return .json(
            AccountJSON.createdInvite(created.invite, url: created.url, mailed: created.mailed), status: .created)
    }

    @Sendable func revokeInvite(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageMembers, request)
        let id = try context.parameters.require("id")
        try await store.revokeInvite(organizationID: principal.organizationID, id: id, at: .now)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "invite.revoke",
                detail: [("id", .string(id))]))
        return Response(status: .noContent)
    }

    @Sendable func audit(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readAudit, request)
        let params = try QueryParameters(request, allowed: ["limit", "before"])
        let limit = try params.integer("limit", in: 1...1000) ?? 100
        // A bare date in `before` is UTC midnight.
        let records = try await store.auditRecords(
            organizationID: principal.organizationID, limit: limit,
            before: try params.instant("before", bareDate: .utcMidnight))
        return .json(ListJSON.list(records, AccountJSON.writeAudit))
    }
}
