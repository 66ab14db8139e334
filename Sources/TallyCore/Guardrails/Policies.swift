/// Guardrails (issue 19): policies the gateway holds each call to before it forwards anything.

/// `enforce` blocks; `monitor` blocks nothing and records what it would have blocked (a dry run for a new policy).
public enum PolicyMode: String, Sendable, CaseIterable {
    case enforce, monitor
}

/// The calls a policy applies to: every field set must match (an empty scope is the whole organization). The project
/// is held by id (the API speaks names and translates), the token by its id (`tok_…`), user and feature by value as
/// the gateway records them (X-Tally-User or the body's `user`, X-Tally-Feature).
public struct PolicyScope: Sendable, Equatable {
    public var projectID: String?
    public var tokenID: String?
    public var user: String?
    public var feature: String?

    public init(projectID: String? = nil, tokenID: String? = nil, user: String? = nil, feature: String? = nil) {
        self.projectID = projectID
        self.tokenID = tokenID
        self.user = user
        self.feature = feature
    }

    public var isEmpty: Bool { projectID == nil && tokenID == nil && user == nil && feature == nil }
}

/// What a policy allows. Every rule is optional; a policy with none is refused by the API.
public struct PolicyRules: Sendable, Equatable {
    /// Globs (`*` any run of characters, `?` one) over the model name as requested; a call must match one.
    public var modelsAllow: [String]?
    /// Globs; a call matching one is refused (deny wins over allow).
    public var modelsDeny: [String]?
    /// The largest `max_tokens` (or the provider's name for it) a call may ask for.
    public var maxOutputTokens: Int?
    /// The largest worst-case cost a single call may have, as the catalog prices it.
    public var maxCostPerRequest: USD?
    public var requestsPerMinute: Int?
    /// Counted from the actual usage (input + output tokens), reserved from the estimate.
    public var tokensPerMinute: Int?
    public var maxConcurrent: Int?

    public init(
        modelsAllow: [String]? = nil, modelsDeny: [String]? = nil, maxOutputTokens: Int? = nil,
        maxCostPerRequest: USD? = nil, requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil,
        maxConcurrent: Int? = nil
    ) {
        self.modelsAllow = modelsAllow
        self.modelsDeny = modelsDeny
        self.maxOutputTokens = maxOutputTokens
        self.maxCostPerRequest = maxCostPerRequest
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.maxConcurrent = maxConcurrent
    }

    public var isEmpty: Bool { self == PolicyRules() }
}

public struct Policy: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var name: String
    public var scope: PolicyScope
    public var mode: PolicyMode
    public var rules: PolicyRules
    /// Alert channel ids (`ch_…`) a `policy_block` alert is delivered to (an extension of the shape).
    public var channelIDs: [String]
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, organizationID: String, name: String, scope: PolicyScope, mode: PolicyMode, rules: PolicyRules,
        channelIDs: [String] = [], createdAt: Instant, updatedAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.scope = scope
        self.mode = mode
        self.rules = rules
        self.channelIDs = channelIDs
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The rule a call was (or, in monitor mode, would have been) blocked by: the suffix of the block event's
/// `error_type` (`blocked:<rule>`) and the `rule` of a policy hit.
public enum PolicyRule: String, Sendable, CaseIterable {
    case budget
    case modelsAllow = "models_allow"
    case modelsDeny = "models_deny"
    case maxOutputTokens = "max_output_tokens"
    case maxCostPerRequest = "max_cost_per_request_usd"
    case requestsPerMinute = "requests_per_minute"
    case tokensPerMinute = "tokens_per_minute"
    case maxConcurrent = "max_concurrent"
}

/// One call a policy or an enforced budget blocked, or in monitor mode would have blocked.
public struct PolicyHit: Sendable, Equatable {
    public var organizationID: String
    /// The policy, or nil for an enforced budget (then `budgetID`).
    public var policyID: String?
    public var budgetID: String?
    public var rule: PolicyRule
    public var mode: PolicyMode
    public var at: Instant
    public var projectID: String
    public var model: String?
    /// The message the caller got (or would have got).
    public var message: String

    public init(
        organizationID: String, policyID: String?, budgetID: String?, rule: PolicyRule, mode: PolicyMode, at: Instant,
        projectID: String, model: String?, message: String
    ) {
        self.organizationID = organizationID
        self.policyID = policyID
        self.budgetID = budgetID
        self.rule = rule
        self.mode = mode
        self.at = at
        self.projectID = projectID
        self.model = model
        self.message = message
    }
}

/// Blocks of one policy (or budget) and rule since an instant, for the Policies page and the API.
public struct PolicyHitCount: Sendable, Equatable {
    public var policyID: String?
    public var budgetID: String?
    public var rule: PolicyRule
    public var mode: PolicyMode
    public var count: Int
    public var last: Instant

    public init(
        policyID: String?, budgetID: String?, rule: PolicyRule, mode: PolicyMode, count: Int, last: Instant
    ) {
        self.policyID = policyID
        self.budgetID = budgetID
        self.rule = rule
        self.mode = mode
        self.count = count
        self.last = last
    }
}

public protocol PolicyStore: Sendable {
    /// Throws `conflict` when the organization already has a policy of that name.
    func createPolicy(_ policy: Policy, audit: AuditRecord) async throws
    /// Replaces every field but id, organization and createdAt; throws `notFound`, `conflict` (name taken).
    func updatePolicy(_ policy: Policy, audit: AuditRecord) async throws
    /// Throws `notFound`. Its hits stay (they name a policy that no longer exists).
    func deletePolicy(organizationID: String, id: String, audit: AuditRecord) async throws
    /// By name.
    func policies(organizationID: String) async throws -> [Policy]
    func policy(organizationID: String, id: String) async throws -> Policy?

    /// Several hits in one transaction (the guard buffers them off the request path).
    func recordPolicyHits(_ hits: [PolicyHit]) async throws
    /// Counts by policy/budget, rule and mode since `since`.
    func policyHitCounts(organizationID: String, since: Instant) async throws -> [PolicyHitCount]
    /// The newest hits, newest first, optionally of one policy.
    func policyHits(organizationID: String, policyID: String?, limit: Int) async throws -> [PolicyHit]
    /// Deletes hits older than `before` (the janitor's retention): how many.
    func deletePolicyHits(before: Instant) async throws -> Int
}
