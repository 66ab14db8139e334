import Hummingbird
import TallyCore
import TallyHTTP

extension Principal {
    /// A member or above in a session, or a token with the `admin` scope: who may acknowledge alerts and dismiss
    /// insights. A plain switch on purpose: `role.map { … } ?? allows(…)` in the handlers crashed swiftc's optimizer
    /// ("Found ownership error" in CopyPropagation, `-c release`).
    var actsAsMember: Bool {
        switch kind {
        case .token(let token): token.allows(.admin)
        case .user(_, let role, _): role >= .member
        }
    }
}

extension Authenticator {
    /// A reader of something that covers the whole organization (alerts, insights): any member, or a token whose
    /// scope is the whole organization; a project's token is refused, it would see other projects' spend.
    func requireWholeOrganizationReader(_ request: Request, of what: String) async throws -> Principal {
        let principal = try await require(.readUsage, request)
        guard principal.projectScope == nil else {
            throw TallyError.forbidden("\(what) cover the whole organization: use a token with the admin scope")
        }
        return principal
    }
}
