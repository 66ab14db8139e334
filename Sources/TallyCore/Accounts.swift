import Foundation

public struct Organization: Sendable, Equatable {
    public var id: String
    public var name: String
    public var timeZone: String
    public var createdAt: Instant
    /// The day of the month (1-28) on which a billing cycle starts, in the organization's time zone.
    public var billingCycleDay: Int
    public init(id: String, name: String, timeZone: String, createdAt: Instant, billingCycleDay: Int = 1) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.createdAt = createdAt
        self.billingCycleDay = billingCycleDay
    }

    public static let billingCycleDays = 1...28
}

public struct Project: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var name: String
    public var createdAt: Instant
    /// Archived projects keep their data and stay readable; they take no new events.
    public var archivedAt: Instant?
    /// Whether the gateway keeps this project's request and response bodies, and for how long (off by default).
    public var content: ContentSettings = .off
    public init(id: String, organizationID: String, name: String, createdAt: Instant, archivedAt: Instant? = nil) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.createdAt = createdAt
        self.archivedAt = archivedAt
    }

    /// Project names are what users type in URLs, filters and CLI flags.
    /// A project's name is also a filter value (`project=web,api`) and a path in links: 1-64 bytes of UTF-8, no white
    /// space, no comma, none of the characters that hide or reorder text (`DisplayName.isRefused`). Any script is fine:
    /// a finance team's `経理チーム` or `🚀-launch` (issue 20's statements show them).
    public static func validate(name: String) -> String? {
        let ok =
            (1...64).contains(name.utf8.count)
            && name.unicodeScalars.allSatisfy {
                // Format characters (soft hyphen, zero-width, bidi marks, BOM, tags) are invisible: two names that
                // look alike must be equal.
                !$0.properties.isWhitespace && $0 != "," && !DisplayName.isRefused($0)
                    && $0.properties.generalCategory != .format && $0.properties.generalCategory != .unassigned
                    && $0.properties.generalCategory != .privateUse
            }
            // One spelling per name: the composed form (NFC), so "café" typed two ways is one project.
            && name.precomposedStringWithCanonicalMapping.utf8.elementsEqual(name.utf8)
        return ok ? nil : "must be 1-64 bytes of printable characters without spaces or commas"
    }
}

/// What an API token may do. `admin` implies every other scope.
public enum Scope: String, Sendable, CaseIterable, Comparable {
    case ingest, read, gateway, admin
    public static func < (a: Scope, b: Scope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct APIToken: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var projectID: String
    public var projectName: String
    public var name: String?
    public var scopes: Set<Scope>
    /// The last four characters of the secret, so a person can tell tokens apart.
    public var hint: String
    public var createdAt: Instant
    public var lastUsedAt: Instant?
    public var revokedAt: Instant?
    public var expiresAt: Instant?
    /// The user who created it (nil: the CLI).
    public var createdBy: String?
    /// The token's project was archived: it reads, but sends no more events.
    public var projectArchived = false
    /// Who stands behind the token now: read with it on every request, so its scopes follow its creator's role.
    public var creator: TokenCreator = .unattended

    public init(
        id: String, organizationID: String, projectID: String, projectName: String, name: String?,
        scopes: Set<Scope>, hint: String, createdAt: Instant, lastUsedAt: Instant? = nil, revokedAt: Instant? = nil,
        expiresAt: Instant? = nil, createdBy: String? = nil, projectArchived: Bool = false,
        creator: TokenCreator = .unattended
    ) {
        self.projectArchived = projectArchived
        self.creator = creator
        self.expiresAt = expiresAt
        self.createdBy = createdBy
        self.id = id
        self.organizationID = organizationID
        self.projectID = projectID
        self.projectName = projectName
        self.name = name
        self.scopes = scopes
        self.hint = hint
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }

    public func allows(_ scope: Scope) -> Bool { scopes.contains(scope) || scopes.contains(.admin) }

    public func isActive(at now: Instant) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }

    /// The token as it may act now: scopes capped by its creator's current role (an admin's token, the admin now a
    /// viewer, only reads); nil when its creator is no longer a member, so the token no longer works.
    public func cappedByCreator() -> APIToken? {
        switch creator {
        case .unattended: return self
        case .departed: return nil
        case .member(let role):
            let held = scopes.contains(.admin) ? Set(Scope.allCases) : scopes
            var capped = self
            capped.scopes = role.tokenScopes.isSuperset(of: held) ? scopes : held.intersection(role.tokenScopes)
            return capped
        }
    }
}

/// Whose authority a token carries.
public enum TokenCreator: Sendable, Equatable {
    /// Made with the CLI, or by a token made with the CLI: nobody's role limits it.
    case unattended
    /// Made by a person who is a member with this role now.
    case member(Role)
    /// Made by a person who is no longer a member of the token's organization.
    case departed
}

/// Parses `ingest,read` into scopes; nil names the first unknown one.
public func parseScopes(_ text: String) -> Result<Set<Scope>, TallyError> {
    var scopes = Set<Scope>()
    for part in text.split(separator: ",") {
        let name = part.trimmingCharacters(in: .whitespaces)
        guard let scope = Scope(rawValue: name) else {
            return .failure(
                .invalid([
                    FieldProblem(field: "scopes", reason: "unknown scope '\(name)'; use ingest, read, gateway, admin")
                ]))
        }
        scopes.insert(scope)
    }
    guard !scopes.isEmpty else {
        return .failure(.invalid([FieldProblem(field: "scopes", reason: "at least one scope is required")]))
    }
    return .success(scopes)
}
