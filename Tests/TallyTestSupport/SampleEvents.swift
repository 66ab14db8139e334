import TallyCore

/// An instant from its RFC 3339 text; the text is the test's own, so a typo stops the test at once.
package func at(_ text: String) -> Instant { Instant(rfc3339: text)! }

/// A stored event of `project` with the usual test values (gpt-4o on OpenAI, 100 tokens in and 10 out), priced only
/// when `cost` is given (then under the price id "test").
package func stored(
    _ id: String, _ time: String, org: String, project: Project, model: String = "gpt-4o", provider: String = "openai",
    input: Int64 = 100, output: Int64 = 10, feature: String? = nil, user: String? = nil,
    status: EventStatus = .success, cost: USD? = nil
) -> StoredEvent {
    var e = UsageEvent(id: id, timestamp: at(time), provider: provider, model: model)
    e.usage.inputTokens = input
    e.usage.outputTokens = output
    e.attribution.feature = feature
    e.attribution.user = user
    e.outcome.status = status
    return StoredEvent(
        event: e, organizationID: org, projectID: project.id, projectName: project.name,
        receivedAt: .now, cost: cost, priceID: cost == nil ? nil : "test")
}
