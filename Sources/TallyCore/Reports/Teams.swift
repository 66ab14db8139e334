/// Teams for chargeback (issue 20): a team is a named set of projects, and a project belongs to at most one team.
/// Events do not carry a team: the summary groups and filters by team through the projects (`TeamMap`), so moving a
/// project to another team re-attributes its past usage too, which is what a chargeback statement wants.
public struct Team: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var name: String
    /// By id, sorted.
    public var projectIDs: [String]
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, organizationID: String, name: String, projectIDs: [String], createdAt: Instant, updatedAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.projectIDs = projectIDs
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// What the API and the pages call usage of projects in no team, and the filter value that selects it
    /// (`team=none`); no team may take this name.
    public static let noTeam = "none"
}

public protocol TeamStore: Sendable {
    /// By name. Each with its projects.
    func teams(organizationID: String) async throws -> [Team]
    func team(organizationID: String, id: String) async throws -> Team?
    /// Throws `conflict` when the name is taken or a project already belongs to another team.
    func createTeam(_ team: Team, audit: AuditRecord) async throws
    /// Replaces the name and the projects; throws `notFound`, `conflict` as `createTeam`.
    func updateTeam(_ team: Team, audit: AuditRecord) async throws
    /// Throws `notFound`. Its projects are then in no team.
    func deleteTeam(organizationID: String, id: String, audit: AuditRecord) async throws
}
