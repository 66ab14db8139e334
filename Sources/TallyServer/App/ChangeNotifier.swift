import Synchronization

/// What the API changed that other parts remember or schedule by.
public enum Change: Sendable, Equatable {
    /// A member's role changed or a member was removed.
    case members
    /// A project changed or a token was revoked.
    case projects
    /// A provider connection was added or got new keys.
    case connectionSaved
    /// A provider connection was deleted.
    case connectionDeleted
}

/// Tells the parts that remember or schedule by the organization's data that it changed: the gateway forgets the
/// tokens and connections it remembers, the provider sync runs at once for a new key. Controllers notify; the
/// composition root subscribes, once, at start.
public final class ChangeNotifier: Sendable {
    private let listeners = Mutex<[@Sendable (Change) -> Void]>([])

    public init() {}

    public func subscribe(_ listener: @escaping @Sendable (Change) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    public func notify(_ change: Change) {
        for listener in listeners.withLock({ $0 }) { listener(change) }
    }
}
