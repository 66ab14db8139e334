import TallyCore

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
