/// The counters the gateway's guard reserves from before it forwards a call (issue 19): a budget's spend in its
/// period, a policy's requests and tokens in a minute, its calls in flight. One shape serves them all: a counter is
/// `settled + reserved`, and a reservation adds to `reserved` only if the sum stays within the hold's limit, in one
/// atomic conditional update, so concurrent calls on every replica see each other's reservations.

/// One amount to reserve on one counter. Keys name what is counted, per organization:
/// `budget:<budget id>:<first local day of the period>` (nano-dollars), `rpm:<policy id>:<minute start, unix s>`
/// (requests), `tpm:<policy id>:<minute start>` (tokens), `concurrent:<policy id>` (calls in flight).
public struct GuardHold: Sendable, Equatable {
    public var key: String
    public var amount: Int64
    /// The reservation is refused when `settled + reserved + amount` would pass this.
    public var limit: Int64
    /// When the counter itself may be forgotten (the end of its window or period; far future for `concurrent:`).
    public var counterExpiresAt: Instant

    public init(key: String, amount: Int64, limit: Int64, counterExpiresAt: Instant) {
        self.key = key
        self.amount = amount
        self.limit = limit
        self.counterExpiresAt = counterExpiresAt
    }
}

public struct GuardCounter: Sendable, Equatable {
    public var settled: Int64
    public var reserved: Int64

    public init(settled: Int64, reserved: Int64) {
        self.settled = settled
        self.reserved = reserved
    }
}

public enum GuardReservation: Sendable, Equatable {
    /// Every hold was reserved, under the reservation's id.
    case reserved
    /// Nothing was reserved: the hold at `index` would have passed its limit; `counter` is what it held then.
    case refused(index: Int, counter: GuardCounter)
}

public protocol GuardCounterStore: Sendable {
    /// All holds or none, atomically against every other reservation of the same counters (on PostgreSQL across
    /// replicas): each counter is created at need and raised only if it stays within its hold's limit. The
    /// reservation is remembered under `id` until settled or until `expiresAt` (a crashed server's reservations expire).
    func reserve(organizationID: String, id: String, holds: [GuardHold], expiresAt: Instant) async throws
        -> GuardReservation
    /// Ends a reservation: each of its holds leaves `reserved`, and `actual[key]` (0 when absent) is added to
    /// `settled`. A reservation that already expired adds only the actual amounts. Unknown ids are a no-op.
    func settle(organizationID: String, id: String, actual: [String: Int64]) async throws
    /// Releases reservations past their `expiresAt` and forgets counters past theirs: how many reservations.
    func expireReservations(now: Instant) async throws -> Int
    /// Raises a counter's `settled` to at least `floor` (a budget's spend as the rollups know it, which also holds
    /// what came in through the API and the sync), creating it if needed. Never lowers it: gateway calls settled but
    /// not yet committed are already in it.
    func raiseSettled(organizationID: String, key: String, floor: Int64, counterExpiresAt: Instant) async throws
    /// The counters of these keys that exist.
    func guardCounters(organizationID: String, keys: [String]) async throws -> [String: GuardCounter]
}

/// The counter keys, built in one place (the guard reserves them, the budgets API shows a budget's open reservations).
public enum GuardKeys {
    public static func budget(_ budgetID: String, firstDay: CivilDate) -> String { "budget:\(budgetID):\(firstDay)" }
    public static func requestsPerMinute(_ policyID: String, minuteStart: Instant) -> String {
        "rpm:\(policyID):\(minuteStart.microseconds / 1_000_000)"
    }
    public static func tokensPerMinute(_ policyID: String, minuteStart: Instant) -> String {
        "tpm:\(policyID):\(minuteStart.microseconds / 1_000_000)"
    }
    public static func concurrent(_ policyID: String) -> String { "concurrent:\(policyID)" }
}
