import TallyCore

/// The insight kinds whose saving comes from the price catalog: the same token profile priced two ways.
extension InsightEngine {
    /// Where short requests go: a feature (events with one), else a project.
    struct Workload: Hashable, Comparable {
        var provider: String
        var model: String
        var scope: Scope
        var value: String

        static func < (a: Workload, b: Workload) -> Bool {
            (a.provider, a.model, a.scope.rawValue, a.value) < (b.provider, b.model, b.scope.rawValue, b.value)
        }
    }

    static func expensiveModels(
        _ input: InsightInput, _ settings: InsightSettings, _ pricing: some InsightPricing
    ) -> [InsightFinding] {
        var workloads: [Workload: UsageMetrics] = [:]
        for row in input.last30 {
            let (scope, value) = row.feature.map { (Scope.feature, $0) } ?? (.project, row.projectID)
            workloads[
                Workload(provider: row.provider, model: row.model, scope: scope, value: value), default: .init()] +=
                row.metrics
        }
        let from = input.windowStart(days: 30)
        var found: [InsightFinding] = []
        for (w, usage) in workloads.sorted(by: { $0.key < $1.key }) {
            guard usage.requests > 0, usage.cost >= settings.floor,
                Int128(usage.inputTokens) < Int128(settings.simpleMaxInputTokens) * Int128(usage.requests),
                Int128(usage.outputTokens) < Int128(settings.simpleMaxOutputTokens) * Int128(usage.requests),
                let current = pricing.cost(provider: w.provider, model: w.model, usage: usage), current > .zero
            else { continue }
            // The dearest model still at least `factor` times cheaper: the smallest step down that pays.
            let cheaper = pricing.models(provider: w.provider).filter { $0 != w.model }.compactMap {
                model -> (String, USD)? in
                guard let cost = pricing.cost(provider: w.provider, model: model, usage: usage), cost > .zero,
                    Int128(cost.nanos) * Int128(settings.cheaperModelFactor) <= Int128(current.nanos)
                else { return nil }
                return (model, cost)
            }.max { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }
            guard let (model, cost) = cheaper else { continue }
            let saving = current - cost
            let name = w.scope.name(w.value, input)
            let averageInput = usage.inputTokens / usage.requests, averageOutput = usage.outputTokens / usage.requests
            found.append(
                InsightFinding(
                    kind: .expensiveModelForSimpleTasks,
                    key: "expensive_model_for_simple_tasks:\(w.scope.rawValue):\(w.value):\(w.provider):\(w.model)",
                    title:
                        "\(name.prefix(1).uppercased() + name.dropFirst()) sends short requests to \(w.model); \(model) would cost about \(InsightText.usd(saving)) less a month",
                    detail:
                        "Over the last 30 days, \(name) made \(InsightText.count(usage.requests)) requests to \(w.model) averaging \(InsightText.count(averageInput)) input and \(InsightText.count(averageOutput)) output tokens: \(InsightText.usd(current)) at today's prices. The same requests on \(model), also from \(w.provider), would cost \(InsightText.usd(cost)), at least \(settings.cheaperModelFactor)× less. Try it on a sample first: short requests are often simple enough for a smaller model.",
                    evidence: [
                        InsightFigure("dimension", .text(w.scope.rawValue)),
                        InsightFigure("value", .text(w.scope.filter(w.value, input).1)),
                        InsightFigure("provider", .text(w.provider)), InsightFigure("model", .text(w.model)),
                        InsightFigure("requests", .count(usage.requests)),
                        InsightFigure("average_input_tokens", .count(averageInput)),
                        InsightFigure("average_output_tokens", .count(averageOutput)),
                        InsightFigure("cost_usd", .usd(current)), InsightFigure("cheaper_model", .text(model)),
                        InsightFigure("cheaper_cost_usd", .usd(cost)),
                    ], estimatedMonthlySavings: saving,
                    explorerURL: explorer(
                        groupBy: "model", from: from, to: input.today,
                        filters: [w.scope.filter(w.value, input), ("provider", w.provider)])))
        }
        return found
    }

    static func lowCacheUse(
        _ input: InsightInput, _ settings: InsightSettings, _ pricing: some InsightPricing
    ) -> [InsightFinding] {
        var models: [Workload: UsageMetrics] = [:]
        for row in input.last30 {
            models[
                Workload(provider: row.provider, model: row.model, scope: .model, value: row.model), default: .init()] +=
                row.metrics
        }
        let from = input.windowStart(days: 30)
        var found: [InsightFinding] = []
        for (w, usage) in models.sorted(by: { $0.key < $1.key }) {
            guard usage.requests > 0, usage.cost >= settings.floor,
                Int128(usage.inputTokens) > Int128(settings.longPromptInputTokens) * Int128(usage.requests),
                Int128(usage.cachedInputTokens) * 100 < Int128(settings.lowCacheSharePercent)
                    * Int128(usage.inputTokens)
            else { continue }
            // The saving if `cache_target_share_percent` of the input were read from the cache, at the cached rate.
            let target = Int64(Int128(usage.inputTokens) * Int128(settings.cacheTargetSharePercent) / 100)
            guard target > usage.cachedInputTokens else { continue }
            var cached = usage
            cached.cachedInputTokens = target
            guard let current = pricing.cost(provider: w.provider, model: w.model, usage: usage),
                let withCache = pricing.cost(provider: w.provider, model: w.model, usage: cached),
                withCache < current
            else { continue }
            let saving = current - withCache
            let share = InsightText.percent(usage.cachedInputTokens, of: usage.inputTokens)
            found.append(
                InsightFinding(
                    kind: .lowCacheUse, key: "low_cache_use:\(w.provider):\(w.model)",
                    title:
                        "Long prompts to \(w.model) are rarely cached (\(share)% of input); caching could save about \(InsightText.usd(saving)) a month",
                    detail:
                        "Over the last 30 days, \(InsightText.count(usage.requests)) requests to \(w.model) averaged \(InsightText.count(usage.inputTokens / usage.requests)) input tokens, of which \(share)% were read from the provider's prompt cache. If \(settings.cacheTargetSharePercent)% were (a shared prefix such as instructions or documents placed first), the input would cost \(InsightText.usd(saving)) less at \(w.provider)'s cached rate.",
                    evidence: [
                        InsightFigure("provider", .text(w.provider)), InsightFigure("model", .text(w.model)),
                        InsightFigure("requests", .count(usage.requests)),
                        InsightFigure("average_input_tokens", .count(usage.inputTokens / usage.requests)),
                        InsightFigure("cached_share_percent", .percent(share)),
                        InsightFigure("cost_usd", .usd(current)), InsightFigure("cost_with_cache_usd", .usd(withCache)),
                    ], estimatedMonthlySavings: saving,
                    explorerURL: explorer(
                        groupBy: "feature", from: from, to: input.today,
                        filters: [("provider", w.provider), ("model", w.model)])))
        }
        return found
    }
}
