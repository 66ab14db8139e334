import Foundation
import TallyCore

extension BudgetService {
    /// The budget a draft asks for: a new one (`current` nil: name, period and amount required) or `current` with
    /// the fields given changed. Every problem is reported at once, each naming its field; nothing is stored.
    func checked(_ draft: BudgetDraft, over current: Budget?, organizationID org: String, now: Instant) async throws
        -> Budget
    {
        var problems: [FieldProblem] = []
        func take<T>(_ result: Result<T, FieldProblem>) -> T? {
            switch result {
            case .success(let value): return value
            case .failure(let problem):
                problems.append(problem)
                return nil
            }
        }
        func required(_ field: String) { problems.append(FieldProblem(field: field, reason: "is required")) }

        var budget =
            current
            ?? Budget(
                id: Identifier.make("bud"), organizationID: org, name: "", scope: [:], period: .month,
                amount: .zero, createdAt: now, updatedAt: now)
        budget.updatedAt = now

        if let name = draft.name {
            if let problem = BudgetRules.name(name) {
                problems.append(problem)
            } else {
                budget.name = name.trimmingCharacters(in: .whitespaces)
            }
        } else if current == nil {
            required("name")
        }
        if let raw = draft.scope, let scope = take(BudgetRules.scope(raw)) {
            budget.scope = try await withProjectIDs(scope, organizationID: org, problems: &problems)
        }
        if let raw = draft.period, let period = take(BudgetRules.period(raw)) {
            budget.period = period
        } else if draft.period == nil, current == nil {
            required("period")
        }
        problems += customDays(draft, &budget)
        if let raw = draft.amount, let amount = take(BudgetRules.amount(raw)) {
            budget.amount = amount
        } else if draft.amount == nil, current == nil {
            required("amount_usd")
        }
        if let raw = draft.thresholds, let thresholds = take(BudgetRules.thresholds(raw)) {
            budget.thresholds = thresholds
        }
        if let raw = draft.ledger, let ledger = take(BudgetRules.ledger(raw)) { budget.ledger = ledger }
        if let problem = BudgetRules.ledgerScope(budget.ledger, budget.scope) { problems.append(problem) }
        if let problem = BudgetRules.rollupScope(budget.ledger, budget.scope) { problems.append(problem) }
        if let current, current.projectBudgetOf != nil {
            // A project token sees its project's monthly budget: widening its scope would show spend outside it.
            for (field, changed) in [
                ("scope", budget.scope != current.scope), ("period", budget.period != current.period),
            ]
            where changed {
                problems.append(
                    FieldProblem(field: field, reason: "a project's monthly budget keeps its project and its month"))
            }
        }
        if let channels = draft.channels {
            var seen = Set<String>()
            let unique = channels.filter { seen.insert($0).inserted }
            if unique.count > BudgetRules.maximumChannels {
                problems.append(
                    FieldProblem(field: "channels", reason: "at most \(BudgetRules.maximumChannels) channels"))
            }
            for id in unique.prefix(BudgetRules.maximumChannels) {
                // The form first: a NUL byte or other junk never reaches the store (PostgreSQL refuses it with a 5xx).
                guard AlertRules.isChannelID(id) else {
                    problems.append(
                        FieldProblem(field: "channels", reason: "must hold alert channel ids such as \"ch_…\""))
                    continue
                }
                guard try await store.alertChannel(organizationID: org, id: id) == nil else { continue }
                problems.append(
                    FieldProblem(field: "channels", reason: "'\(id)' is not an alert channel of this organization"))
            }
            budget.channelIDs = unique
        }
        if let enabled = draft.enabled { budget.enabled = enabled }
        if let enforce = draft.enforce { budget.enforce = enforce }
        if let problem = BudgetRules.enforce(budget.enforce, budget.ledger) { problems.append(problem) }
        if let muted = draft.mutedUntil {
            budget.mutedUntil = muted.flatMap { take(BudgetRules.mutedUntil($0)) }
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
        return budget
    }

    /// `from`/`to` belong to a custom period only: it needs both, in order; another period drops them.
    private func customDays(_ draft: BudgetDraft, _ budget: inout Budget) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        guard budget.period == .custom else {
            for (field, value) in [("from", draft.from), ("to", draft.to)] where value != nil {
                problems.append(FieldProblem(field: field, reason: "is only for a custom period"))
            }
            budget.customFrom = nil
            budget.customTo = nil
            return problems
        }
        for (field, raw) in [("from", draft.from), ("to", draft.to)] {
            guard let raw else {
                if (field == "from" ? budget.customFrom : budget.customTo) == nil {
                    problems.append(FieldProblem(field: field, reason: "is required for a custom period"))
                }
                continue
            }
            switch BudgetRules.day(raw, field: field) {
            case .success(let day):
                if field == "from" { budget.customFrom = day } else { budget.customTo = day }
            case .failure(let problem): problems.append(problem)
            }
        }
        if let from = budget.customFrom, let to = budget.customTo, to < from {
            problems.append(FieldProblem(field: "to", reason: "must not be before from"))
        }
        return problems
    }

    /// Projects are given by name and kept by id; an unknown name is a problem naming `scope.project`.
    private func withProjectIDs(_ scope: BudgetScope, organizationID: String, problems: inout [FieldProblem])
        async throws -> BudgetScope
    {
        guard let names = scope[.project] else { return scope }
        var scope = scope
        var ids: [String] = []
        for name in names {
            if let project = try await store.project(organizationID: organizationID, name: name) {
                ids.append(project.id)
            } else {
                problems.append(
                    FieldProblem(
                        field: "scope.project", reason: "'\(name.prefix(64))' is not a project of this organization"))
            }
        }
        scope[.project] = ids
        return scope
    }
}
