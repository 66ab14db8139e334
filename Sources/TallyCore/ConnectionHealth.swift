/// What is known of a provider connection's keys. Stored as today's two columns: `validated_at` (the last time the
/// keys were checked and worked) and `validation_error` (why they do not work now, as shown); this is the one place
/// that text is read back into a case.
public enum ConnectionHealth: Sendable, Equatable {
    /// Saved without being checked (`validate: false`), and not tested since.
    case unchecked
    /// The keys worked when last checked.
    case valid
    /// The last check of the keys (on saving or a test) failed: the provider's answer, or why it could not be asked.
    case rejected(String)
    /// A provider sync was refused the admin key (401/403): scheduled syncs skip the connection until it is given
    /// new keys. The message is the provider's own.
    case adminKeyRejected(String)

    /// The stored and shown prefix of `adminKeyRejected`.
    static let adminKeyRejectedPrefix = "needs a new admin key: "

    /// Reads the stored columns.
    public init(validatedAt: Instant?, validationError: String?) {
        switch validationError {
        case nil: self = validatedAt == nil ? .unchecked : .valid
        case let text? where text.hasPrefix(Self.adminKeyRejectedPrefix):
            self = .adminKeyRejected(String(text.dropFirst(Self.adminKeyRejectedPrefix.count)))
        case let text?: self = .rejected(text)
        }
    }

    /// The `validation_error` text: nil unless the keys are known not to work.
    public var problem: String? {
        switch self {
        case .unchecked, .valid: nil
        case .rejected(let message): message
        case .adminKeyRejected(let message): Self.adminKeyRejectedPrefix + message
        }
    }
}

extension ProviderConnection {
    public var health: ConnectionHealth { ConnectionHealth(validatedAt: validatedAt, validationError: validationError) }

    /// Records the outcome of a check: `valid` and `unchecked` set `validated_at` (to `at`, or none); a failure keeps
    /// the time the keys last worked.
    public mutating func record(_ health: ConnectionHealth, at: Instant) {
        switch health {
        case .valid: validatedAt = at
        case .unchecked: validatedAt = nil
        case .rejected, .adminKeyRejected: break
        }
        validationError = health.problem
    }
}
