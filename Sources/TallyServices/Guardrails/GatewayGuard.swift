import TallyCore

/// What the guard needs to know of a gateway call before it is forwarded (the gateway reads it from the request).
public struct GuardedCall: Sendable, Equatable {
    public var organizationID: String
    public var projectID: String
    /// The Tally token's id (`tok_…`): what policies scope by.
    public var tokenID: String
    /// The event's `api_key` attribution: the token's name, else its id (what budgets scoped by `api_key` match).
    public var apiKey: String
    public var user: String?
    public var feature: String?
    public var environment: String?
    public var provider: String
    /// The model as requested (Gemini's from the path), nil when the call names none.
    public var model: String?
    /// The `max_tokens` the request asks for (`max_completion_tokens`, `max_output_tokens`,
    /// `generationConfig.maxOutputTokens`), nil when it sets none.
    public var requestedMaxOutputTokens: Int?
    /// A conservative upper bound of the input tokens: the request body's size in bytes (a token is at least a byte
    /// of text), so a reservation is never smaller than the call's input.
    public var inputTokensBound: Int
    /// How many answers the request asks for (OpenAI's `n`, Gemini's `candidateCount`): the output bound multiplies.
    public var answers: Int = 1
    public var at: Instant

    public init(
        organizationID: String, projectID: String, tokenID: String, user: String?, feature: String?,
        environment: String?, provider: String, model: String?, requestedMaxOutputTokens: Int?, inputTokensBound: Int,
        at: Instant = .now, apiKey: String? = nil
    ) {
        self.organizationID = organizationID
        self.projectID = projectID
        self.tokenID = tokenID
        self.apiKey = apiKey ?? tokenID
        self.user = user
        self.feature = feature
        self.environment = environment
        self.provider = provider
        self.model = model
        self.requestedMaxOutputTokens = requestedMaxOutputTokens
        self.inputTokensBound = inputTokensBound
        self.at = at
    }
}

/// Why a call is not forwarded, and the answer the caller gets (the gateway writes it in the provider's error format
/// with `x-should-retry: false`). The message names the policy or budget and the limit, never another tenant's data.
public struct PolicyBlock: Sendable, Equatable, Error {
    public var rule: PolicyRule
    public var policyID: String?
    public var budgetID: String?
    /// 429 (budget exhausted, rate limits), 403 (model denied, too expensive), 400 (`max_tokens` too large).
    public var status: Int
    /// The provider-neutral error code the body carries (`rate_limit_exceeded`, `budget_exceeded`,
    /// `permission_denied`, `invalid_request`).
    public var code: String
    public var message: String
    /// Whole seconds until the window frees (rate limits only): the `Retry-After` header.
    public var retryAfterSeconds: Int?

    public init(
        rule: PolicyRule, policyID: String?, budgetID: String?, status: Int, code: String, message: String,
        retryAfterSeconds: Int? = nil
    ) {
        self.rule = rule
        self.policyID = policyID
        self.budgetID = budgetID
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// What an admitted call holds until it ends: its reservation (nil when nothing in scope needed one) and how the
/// actual usage settles it.
public struct GuardTicket: Sendable, Equatable {
    public var organizationID: String
    public var reservationID: String?
    /// The counter keys reserved, and how each is settled: `cost` (nano-dollars), `tokens`, `request` (1), `release`
    /// (0: calls in flight).
    public var settlements: [String: GuardSettlement]
    /// Monitor-mode policies' counters, reserved apart under their own id so that they never block (their refusals are
    /// would-be blocks), and settled the same way.
    public var monitorReservationID: String?
    public var monitorSettlements: [String: GuardSettlement]

    public init(
        organizationID: String, reservationID: String?, settlements: [String: GuardSettlement],
        monitorReservationID: String? = nil, monitorSettlements: [String: GuardSettlement] = [:]
    ) {
        self.organizationID = organizationID
        self.reservationID = reservationID
        self.settlements = settlements
        self.monitorReservationID = monitorReservationID
        self.monitorSettlements = monitorSettlements
    }

    public static func none(_ organizationID: String) -> GuardTicket {
        GuardTicket(organizationID: organizationID, reservationID: nil, settlements: [:])
    }
}

public enum GuardSettlement: Sendable, Equatable {
    case cost, tokens, request, release
}

/// What actually happened, to settle a ticket with.
public struct GuardOutcome: Sendable, Equatable {
    /// The call's cost as priced (nil: unpriced, settles 0).
    public var cost: USD?
    /// Input + output tokens as the answer reported them (0 when it reported none).
    public var tokens: Int

    public init(cost: USD?, tokens: Int) {
        self.cost = cost
        self.tokens = tokens
    }
}

public enum GuardDecision: Sendable, Equatable {
    case proceed(GuardTicket)
    case block(PolicyBlock)
}

/// The gateway's policy hook: asked once before a call is forwarded, told once when it ends. Implemented by
/// `GuardService` (policies, enforced budgets, rate limits); `NoGuard` lets everything through.
public protocol GatewayGuard: Sendable {
    /// Throws only when the guard cannot decide (the store is down) and a rule in scope needs the store: the gateway
    /// then answers 503 and forwards nothing.
    func admit(_ call: GuardedCall) async throws -> GuardDecision
    /// Settles the ticket with what the call actually used; never throws (a failure is logged and the reservation
    /// expires).
    func settle(_ ticket: GuardTicket, _ outcome: GuardOutcome) async
}

public struct NoGuard: GatewayGuard {
    public init() {}
    public func admit(_ call: GuardedCall) async throws -> GuardDecision { .proceed(.none(call.organizationID)) }
    public func settle(_ ticket: GuardTicket, _ outcome: GuardOutcome) async {}
}
