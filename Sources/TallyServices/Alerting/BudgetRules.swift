import Foundation
import TallyAggregate
import TallyCore

/// The rules for each field of a budget, named as the API names them. Every problem of a request is reported at once.
package enum BudgetRules {
    /// One million dollars a period is far past any real budget; anything larger is a typo or an attack.
    package static let maximumAmount = USD(nanos: 1_000_000_000 * 1_000_000_000)
    package static let nameLength = 1...200
    package static let maximumValues = 100
    package static let maximumThresholds = 20
    /// Each channel id is looked up: a request cannot make that unbounded.
    package static let maximumChannels = 50

    package static func name(_ raw: String) -> FieldProblem? {
        if raw.unicodeScalars.contains(where: DisplayName.isRefused) {
            return FieldProblem(
                field: "name", reason: "must not contain control characters, line separators or bidirectional overrides"
            )
        }
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        return nameLength.contains(trimmed.count)
            ? nil : FieldProblem(field: "name", reason: "must be 1-200 characters")
    }

    package static func amount(_ raw: String) -> Result<USD, FieldProblem> {
        guard let usd = USD(decimal: raw), usd > .zero, usd <= maximumAmount else {
            return .failure(
                FieldProblem(
                    field: "amount_usd",
                    reason: "must be a decimal string greater than 0 and at most 1000000000, such as \"250.00\""))
        }
        return .success(usd)
    }

    package static func thresholds(_ raw: [Int]) -> Result<[Int], FieldProblem> {
        guard !raw.isEmpty, raw.count <= maximumThresholds, raw.allSatisfy(Budget.thresholdRange.contains),
            Set(raw).count == raw.count
        else {
            return .failure(
                FieldProblem(
                    field: "thresholds",
                    reason: "must be 1-\(maximumThresholds) different whole percents from 1 to 1000"))
        }
        return .success(raw.sorted())
    }

    package static func period(_ raw: String) -> Result<BudgetPeriodKind, FieldProblem> {
        guard let kind = BudgetPeriodKind(rawValue: raw) else {
            return .failure(
                FieldProblem(field: "period", reason: "must be one of day, week, month, billing_cycle, custom"))
        }
        return .success(kind)
    }

    package static func ledger(_ raw: String) -> Result<BudgetLedger, FieldProblem> {
        guard let ledger = BudgetLedger(rawValue: raw) else {
            return .failure(FieldProblem(field: "ledger", reason: "must be observed or provider"))
        }
        return .success(ledger)
    }

    package static func day(_ raw: String, field: String) -> Result<CivilDate, FieldProblem> {
        guard let date = CivilDate(parsing: raw) else {
            return .failure(FieldProblem(field: field, reason: "must be a date YYYY-MM-DD"))
        }
        return .success(date)
    }

    package static func mutedUntil(_ raw: String) -> Result<Instant, FieldProblem> {
        guard let instant = Instant(rfc3339: raw) else {
            return .failure(FieldProblem(field: "muted_until", reason: "must be an RFC 3339 date-time or null"))
        }
        return .success(instant)
    }

    /// The scope's dimensions and values, as given (projects still by name): known dimensions only, each once, 1-100
    /// values of 1-200 characters without control characters.
    package static func scope(_ raw: [(dimension: String, values: [String])]) -> Result<BudgetScope, FieldProblem> {
        var scope: BudgetScope = [:]
        let allowed = Budget.scopeDimensions.map(\.rawValue).joined(separator: ", ")
        for (key, values) in raw {
            let field = "scope.\(key)"
            guard let dimension = UsageDimension(rawValue: key), Budget.scopeDimensions.contains(dimension) else {
                return .failure(FieldProblem(field: field, reason: "is not a scope: use \(allowed)"))
            }
            guard scope[dimension] == nil else { return .failure(FieldProblem(field: field, reason: "is given twice")) }
            guard (1...maximumValues).contains(values.count) else {
                return .failure(
                    FieldProblem(field: field, reason: "must be a name or a list of 1-\(maximumValues) names"))
            }
            for value in values
            where !nameLength.contains(value.count) || value.unicodeScalars.contains(where: DisplayName.isRefused) {
                return .failure(
                    FieldProblem(field: field, reason: "values must be 1-200 characters without control characters"))
            }
            var seen = Set<String>()
            scope[dimension] = values.filter { seen.insert($0).inserted }
        }
        return .success(scope)
    }

    /// An observed budget's spend is read from the rollups at every evaluation; no rollup keeps `user` together with
    /// `feature` or `api_key` (`RollupTable`), and such a scope would scan the period's raw events each time.
    package static func rollupScope(_ ledger: BudgetLedger, _ scope: BudgetScope) -> FieldProblem? {
        guard ledger == .observed, RollupTable.covering(Set(scope.keys)) == nil else { return nil }
        let others = scope.keys.filter { !RollupTable.byUser.dimensions.contains($0) }.map(\.rawValue).sorted()
        return FieldProblem(
            field: "scope.\(UsageDimension.user.rawValue)",
            reason: "cannot be combined with \(others.joined(separator: " or ")): spend by user is kept by project, "
                + "provider, model and environment only")
    }

    /// The gateway holds calls to a budget from the spend it sees: the providers' reports come hours late, so a
    /// provider-ledger budget cannot stop a call in time.
    package static func enforce(_ enforce: Bool, _ ledger: BudgetLedger) -> FieldProblem? {
        guard enforce, ledger == .provider else { return nil }
        return FieldProblem(
            field: "enforce",
            reason: "applies to observed-ledger budgets only: the providers' cost reports come hours after the calls")
    }

    /// The providers' cost reports split spend by provider, model and project only.
    package static func ledgerScope(_ ledger: BudgetLedger, _ scope: BudgetScope) -> FieldProblem? {
        guard ledger == .provider else { return nil }
        let unsplittable = scope.keys.filter { !ProviderLedger.costDimensions.contains($0) }.sorted()
        guard let first = unsplittable.first else { return nil }
        return FieldProblem(
            field: "scope.\(first.rawValue)",
            reason: "a provider-ledger budget can be scoped by project, provider and model only: the providers' "
                + "cost reports do not split spend by \(first.rawValue)")
    }
}
