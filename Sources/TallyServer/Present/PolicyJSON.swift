import TallyCore

/// Guardrail policies as the API answers them (issue 19): a scope or rule that is not set is left out, money is a
/// decimal string, and each policy carries its blocks of the last 7 days by mode.
enum PolicyJSON {
    /// `projects`: ids to names (the API speaks project names); `hits`: the policy's 7-day counts by mode.
    static func write(_ p: Policy, projects: [String: String], hits: [PolicyMode: Int], into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", p.id)
        w.field("name", p.name)
        w.key("scope")
        w.beginObject()
        if let id = p.scope.projectID { w.field("project", projects[id] ?? id) }
        if let token = p.scope.tokenID { w.field("token", token) }
        if let user = p.scope.user { w.field("user", user) }
        if let feature = p.scope.feature { w.field("feature", feature) }
        w.endObject()
        w.field("mode", p.mode.rawValue)
        w.key("rules")
        writeRules(p.rules, into: &w)
        w.key("channel_ids")
        w.beginArray()
        for id in p.channelIDs { w.string(id) }
        w.endArray()
        w.field("created_at", p.createdAt.rfc3339)
        w.field("updated_at", p.updatedAt.rfc3339)
        w.key("hits_7d")
        w.beginObject()
        for mode in [PolicyMode.enforce, .monitor] { w.field(mode.rawValue, hits[mode] ?? 0) }
        w.endObject()
        w.endObject()
    }

    static func writeRules(_ r: PolicyRules, into w: inout JSONWriter) {
        w.beginObject()
        for (key, globs) in [("models_allow", r.modelsAllow), ("models_deny", r.modelsDeny)] {
            guard let globs else { continue }
            w.key(key)
            w.beginArray()
            for glob in globs { w.string(glob) }
            w.endArray()
        }
        if let n = r.maxOutputTokens { w.field("max_output_tokens", n) }
        if let usd = r.maxCostPerRequest { w.field("max_cost_per_request_usd", BudgetJSON.amount(usd)) }
        if let n = r.requestsPerMinute { w.field("requests_per_minute", n) }
        if let n = r.tokensPerMinute { w.field("tokens_per_minute", n) }
        if let n = r.maxConcurrent { w.field("max_concurrent", n) }
        w.endObject()
    }

    static func policy(_ p: Policy, projects: [String: String], hits: [PolicyMode: Int]) -> String {
        var w = JSONWriter()
        write(p, projects: projects, hits: hits, into: &w)
        return w.text
    }

    /// One hit of `GET /api/v1/policies/{id}/hits`: when, which rule, enforced or only monitored, the call's project
    /// (by name) and model, and the message the caller got (or would have got).
    static func writeHit(_ h: PolicyHit, projects: [String: String], into w: inout JSONWriter) {
        w.beginObject()
        w.field("at", h.at.rfc3339)
        w.field("policy_id", h.policyID)
        w.field("budget_id", h.budgetID)
        w.field("rule", h.rule.rawValue)
        w.field("mode", h.mode.rawValue)
        w.field("project", projects[h.projectID] ?? h.projectID)
        w.field("model", h.model)
        w.field("message", h.message)
        w.endObject()
    }
}
