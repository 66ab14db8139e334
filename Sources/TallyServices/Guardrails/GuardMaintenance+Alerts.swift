import Logging
import TallyCore

extension GuardMaintenance {
    /// The dedupe key of a policy's (or budget's) `policy_block` alert for the hour `at` falls in.
    static func alertKey(_ id: String, at: Instant) -> String {
        "policy_block:\(id):\(floorDiv(at.seconds, 3600) * 3600)"
    }

    /// One `policy_block` alert per policy or budget and hour, to its channels; a key the organization already has is
    /// skipped (another pass, or another replica, recorded it).
    func recordAlerts(for hits: [PolicyHit], at now: Instant) async throws {
        var groups: [String: [PolicyHit]] = [:]
        var order: [String] = []
        for hit in hits {
            guard let id = hit.policyID ?? hit.budgetID else { continue }
            let key = hit.organizationID + "|" + Self.alertKey(id, at: hit.at)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(hit)
        }
        var recorded = false
        for organizationID in Set(hits.map(\.organizationID)).sorted() {
            let keys = order.filter { $0.hasPrefix(organizationID + "|") }
            let dedupeKeys = keys.map { String($0.dropFirst(organizationID.count + 1)) }
            let fired = try await store.firedAlerts(organizationID: organizationID, keys: dedupeKeys)
            for (key, dedupeKey) in zip(keys, dedupeKeys) where fired[dedupeKey] == nil {
                guard let group = groups[key], let candidate = try await alert(dedupeKey, group, now: now) else {
                    continue
                }
                let deliveries = candidate.channelIDs.map {
                    AlertDelivery(
                        id: Identifier.make("dl"), organizationID: organizationID, alertID: candidate.alert.id,
                        channelID: $0, nextAttemptAt: now, createdAt: now)
                }
                if try await store.recordAlert(candidate.alert, deliveries: deliveries) {
                    recorded = true
                    logger.info(
                        "alert fired",
                        metadata: [
                            "organization": "\(organizationID)", "alert": "\(candidate.alert.id)",
                            "key": "\(dedupeKey)",
                        ])
                }
            }
        }
        if recorded { wakeDelivery() }
    }

    /// The alert for one policy's or budget's blocks in one hour, and its channels: the policy's, or the budget's (a
    /// muted budget fires nothing). A policy since deleted still fires, named by its id, to no channel.
    private func alert(_ key: String, _ hits: [PolicyHit], now: Instant) async throws
        -> (alert: Alert, channelIDs: [String])?
    {
        let first = hits[0]
        let hour = Instant(seconds: floorDiv(first.at.seconds, 3600) * 3600)
        let rules = Array(Set(hits.map(\.rule.rawValue))).sorted().joined(separator: ", ")
        var scope: BudgetScope = [:]
        var channels: [String] = []
        var amount: USD?
        let summary: String
        if let policyID = first.policyID {
            let policy = try await store.policy(organizationID: first.organizationID, id: policyID)
            if let s = policy?.scope {
                if let v = s.projectID { scope[.project] = [v] }
                if let v = s.tokenID { scope[.apiKey] = [v] }
                if let v = s.user { scope[.user] = [v] }
                if let v = s.feature { scope[.feature] = [v] }
            }
            channels = policy?.channelIDs ?? []
            summary = "Policy '\(policy?.name ?? policyID)' blocked gateway calls (\(rules))"
        } else if let budgetID = first.budgetID {
            let budget = try await store.budget(organizationID: first.organizationID, id: budgetID)
            if let muted = budget?.mutedUntil, now < muted { return nil }
            scope = budget?.scope ?? [:]
            channels = budget?.channelIDs ?? []
            amount = budget?.amount
            let limit = budget.map { " (\(AlertText.usd($0.amount)))" } ?? ""
            summary =
                "Budget '\(budget?.name ?? budgetID)' is exhausted\(limit): gateway calls in its scope are blocked"
        } else {
            return nil
        }
        let alert = Alert(
            id: Identifier.make("al"), organizationID: first.organizationID, type: .policyBlock, dedupeKey: key,
            firedAt: first.at, budgetID: first.budgetID, rule: first.rule.rawValue, scope: scope,
            figures: AlertFigures(
                periodStart: hour, periodEnd: hour.adding(seconds: 3600), amount: amount, summary: summary))
        return (alert, channels)
    }
}
