import TallyCore

/// Reads LiteLLM's `model_prices_and_context_window.json` into organization entries in the catalog's shape.
/// Its per-token prices are JSON numbers such as `2.5e-06`; they are read from their literal text, exactly.
public enum LiteLLMImport {
    public struct Result: Sendable {
        public var entries: [JSONValue] = []
        public var skipped: [(model: String, reason: String)] = []
    }

    static let tokenModes: Set<String> = ["chat", "completion", "embedding", "responses"]
    static let classes: [(String, TokenClass)] = [
        ("input_cost_per_token", .input), ("cache_read_input_token_cost", .cachedInput),
        ("cache_creation_input_token_cost", .cacheWrite5m),
        ("cache_creation_input_token_cost_above_1hr", .cacheWrite1h),
        ("output_cost_per_token", .output), ("output_cost_per_reasoning_token", .reasoning),
        ("input_cost_per_audio_token", .inputAudio), ("output_cost_per_audio_token", .outputAudio),
        ("cache_read_input_audio_token_cost", .cachedInputAudio),
    ]
    static let providers = [
        "gemini": "google", "vertex_ai-language-models": "vertex_ai", "vertex_ai-anthropic_models": "vertex_ai",
        "azure": "azure_openai", "azure_ai": "azure_openai", "bedrock_converse": "bedrock",
        "text-completion-openai": "openai",
    ]

    public static func entries(_ bytes: [UInt8], from: CivilDate) throws -> Result {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            throw CatalogFile.Problem(
                description: "LiteLLM file: malformed JSON at byte \(error.offset): \(error.reason)")
        }
        guard case .object(let models) = root else {
            throw CatalogFile.Problem(description: "LiteLLM file: expected an object of models")
        }
        var result = Result()
        var seen = Set<String>()
        for (name, spec) in models where name != "sample_spec" {
            let mode = spec["mode"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "chat"
            guard tokenModes.contains(mode) else {
                result.skipped.append((name, "mode \(mode) is not priced per token")); continue
            }
            var rates: [(String, JSONValue)] = []
            var problem: String?
            for (key, tokenClass) in classes {
                guard case .number(let literal)? = spec[key] else { continue }
                guard let perMillion = perMillion(literal) else {
                    problem = "\(key) \(literal) is finer than a nano-dollar per 1M tokens"; break
                }
                rates.append((tokenClass.rawValue, .string(perMillion)))
            }
            if let problem { result.skipped.append((name, problem)); continue }
            guard rates.contains(where: { $0.0 == "input" }) else {
                result.skipped.append((name, "no input_cost_per_token")); continue
            }
            let rawProvider =
                spec["litellm_provider"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "unknown"
            let provider = providers[rawProvider] ?? rawProvider.lowercased()
            guard let model = ModelName.candidates(name).first, seen.insert(provider + "/" + model).inserted else {
                result.skipped.append((name, "duplicate of an earlier model for \(provider)")); continue
            }
            var entry: [(String, JSONValue)] = [
                ("provider", .string(provider)), ("model", .string(model)), ("from", .string(from.description)),
                ("source", .string("LiteLLM model_prices_and_context_window.json")), ("prices", .object(rates)),
            ]
            if case .number(let input)? = spec["input_cost_per_token"],
                case .number(let batched)? = spec["input_cost_per_token_batches"],
                let i = perMillion(input), let b = perMillion(batched), let iv = USD(decimal: i),
                let bv = USD(decimal: b),
                iv.nanos > 0, bv.nanos * 2 == iv.nanos
            {
                entry.append(("batch", .string("0.5")))
            }
            if case .number(let inAbove)? = spec["input_cost_per_token_above_200k_tokens"], let i = perMillion(inAbove)
            {
                var tier: [(String, JSONValue)] = [("input", .string(i))]
                if case .number(let outAbove)? = spec["output_cost_per_token_above_200k_tokens"],
                    let o = perMillion(outAbove)
                {
                    tier.append(("output", .string(o)))
                }
                entry.append(
                    (
                        "tiers",
                        .array([.object([("above_input_tokens", .number("200000")), ("prices", .object(tier))])])
                    ))
            }
            result.entries.append(.object(entry))
        }
        return result
    }

    /// USD per token as a JSON number literal (`2.5e-06`, `0.0000025`, `0`) → USD per 1M tokens as a decimal string.
    static func perMillion(_ literal: String) -> String? {
        var text = Substring(literal.lowercased())
        var exponent = 0
        if let e = text.firstIndex(of: "e") {
            guard let x = Int(text[text.index(after: e)...].replacingPlus) else { return nil }
            exponent = x
            text = text[..<e]
        }
        guard !text.hasPrefix("-") else { return nil }
        var digits = ""
        var fractionDigits = 0
        var afterPoint = false
        for ch in text {
            if ch == "." { afterPoint = true; continue }
            guard ch.isASCII, ch.isNumber else { return nil }
            digits.append(ch)
            if afterPoint { fractionDigits += 1 }
        }
        // value = digits × 10^(exponent − fractionDigits); per million: × 10^6.
        let scale = exponent - fractionDigits + 6
        if scale >= 0 {
            digits += String(repeating: "0", count: scale)
            return USD(decimal: String(Int64(digits) ?? 0)).map(\.decimalString)
        }
        let places = -scale
        if digits.count <= places { digits = String(repeating: "0", count: places - digits.count + 1) + digits }
        let whole = digits.dropLast(places)
        var fraction = String(digits.suffix(places))
        while fraction.last == "0" { fraction.removeLast() }
        guard fraction.count <= 9 else { return nil }
        return USD(decimal: fraction.isEmpty ? String(whole) : "\(whole).\(fraction)").map(\.decimalString)
    }
}

extension Substring {
    var replacingPlus: Substring { first == "+" ? dropFirst() : self }
}
