/// One problem with one field of the input: `index` is the event's position in a batch.
public struct FieldProblem: Sendable, Equatable, Error {
    public var index: Int?
    public var field: String
    public var reason: String
    public init(index: Int? = nil, field: String, reason: String) {
        self.index = index
        self.field = field
        self.reason = reason
    }
}

/// What can go wrong in the domain. It knows nothing of HTTP: the server maps it to responses in one place.
public enum TallyError: Error, Sendable, Equatable {
    /// The input breaks one or more rules; nothing was stored.
    case invalid([FieldProblem])
    /// The input carries prompt or response content, which Tally never stores.
    case contentNotAllowed([FieldProblem])
    case tooLarge(String)
    /// A total that cannot be counted exactly in 64 bits (tokens, or nano-dollars: about 9.2 billion USD). Ingestion
    /// refuses the events that would make a stored total overflow; a summary over such totals asks for a smaller range.
    case totalTooLarge([FieldProblem])
    /// A summary or explorer query would build more groups than `limit`.
    case tooManyGroups(limit: Int)
    case notFound(String)
    case conflict(String)
    case unauthenticated
    case forbidden(String)
    /// The store could not be reached or failed; the message is safe to show.
    case unavailable(String)
    /// Too many attempts: try again after this many seconds.
    case throttled(retryAfterSeconds: Int)
    /// The thing existed but can no longer be used (an expired or used invite).
    case gone(String)
    /// A provider refused a key or a call; `field` names the key it refused, the message is the provider's, never the key.
    case providerRejected(field: String, message: String)
    /// An upstream URL (`field`) is, or resolves to, an address Tally does not call (loopback, private, metadata…).
    case upstreamNotAllowed(field: String, message: String)
}
