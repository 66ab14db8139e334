/// The one JSON shape of an organization's insight settings: what `GET/PUT /api/v1/insight-settings` speak and what
/// the store keeps, so the two cannot drift apart.
///
/// `{"concentration_percent", "growth_percent", "simple_max_input_tokens", "simple_max_output_tokens",
/// "cheaper_model_factor", "feature_spike_percent", "long_prompt_input_tokens", "low_cache_share_percent",
/// "cache_target_share_percent", "floor_usd": "10.00", "batch_features": ["…"]}`
extension InsightSettings {
    /// Each whole-number setting: its JSON name, where it lives, and the values it may take.
    public static var integerFields:
        [(name: String, keyPath: WritableKeyPath<InsightSettings, Int>, range: ClosedRange<Int>)]
    {
        [
            ("concentration_percent", \.concentrationPercent, 1...100),
            ("growth_percent", \.growthPercent, 1...100_000),
            ("simple_max_input_tokens", \.simpleMaxInputTokens, 1...10_000_000),
            ("simple_max_output_tokens", \.simpleMaxOutputTokens, 1...10_000_000),
            ("cheaper_model_factor", \.cheaperModelFactor, 2...1000),
            ("feature_spike_percent", \.featureSpikePercent, 1...100_000),
            ("long_prompt_input_tokens", \.longPromptInputTokens, 1...100_000_000),
            ("low_cache_share_percent", \.lowCacheSharePercent, 1...100),
            ("cache_target_share_percent", \.cacheTargetSharePercent, 1...100),
        ]
    }
    /// The largest floor: a million dollars.
    public static let maximumFloor = USD(nanos: 1_000_000 * 1_000_000_000)
    public static let maximumBatchFeatures = 100
    public static let maximumFeatureLength = 200

    public var json: String {
        var w = JSONWriter()
        w.beginObject()
        for field in Self.integerFields { w.field(field.name, self[keyPath: field.keyPath]) }
        w.field("floor_usd", Self.amount(floor))
        w.key("batch_features")
        w.beginArray()
        for feature in batchFeatures { w.string(feature) }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// An amount as the API writes it: at least two decimals ("1.00").
    public static func amount(_ usd: USD) -> String {
        let text = usd.decimalString
        guard let dot = text.firstIndex(of: ".") else { return text + ".00" }
        return text.distance(from: dot, to: text.endIndex) == 2 ? text + "0" : text
    }

    /// These settings with the members `value` gives changed; members left out keep their value. Every problem is a
    /// `TallyError.invalid` naming its field.
    public func applying(_ value: JSONValue) throws -> InsightSettings {
        var settings = self
        let fields = try JSONFields(
            value, allowed: Set(Self.integerFields.map(\.name) + ["floor_usd", "batch_features"]))
        for field in Self.integerFields {
            guard let n = try fields.integer(field.name) else { continue }
            guard field.range.contains(n) else {
                throw Self.problem(
                    field.name,
                    "must be a whole number from \(field.range.lowerBound) to \(field.range.upperBound)")
            }
            settings[keyPath: field.keyPath] = n
        }
        if let text = try fields.string("floor_usd") {
            guard let floor = USD(decimal: text), floor >= .zero, floor <= Self.maximumFloor else {
                throw Self.problem(
                    "floor_usd",
                    "must be a decimal string of dollars from \"0\" to \"\(Self.maximumFloor.decimalString)\", such as \"10.00\""
                )
            }
            settings.floor = floor
        }
        if let list = fields.members["batch_features"], list != .null {
            settings.batchFeatures = try Self.features(list)
        }
        return settings
    }

    /// The settings a stored definition holds (written by `json`), on top of the defaults.
    public init(definition: String) throws {
        self = try InsightSettings().applying(try JSONParser.parse(Array(definition.utf8)))
    }

    private static func features(_ value: JSONValue) throws -> [String] {
        let reason =
            "must be a list of at most \(maximumBatchFeatures) feature names (1 to \(maximumFeatureLength) characters, no control characters)"
        guard case .array(let items) = value, items.count <= maximumBatchFeatures else {
            throw problem("batch_features", reason)
        }
        var names: [String] = []
        for item in items {
            guard case .string(let name) = item, !name.isEmpty, name.count <= maximumFeatureLength,
                !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw problem("batch_features", reason) }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    private static func problem(_ field: String, _ reason: String) -> TallyError {
        TallyError.invalid([FieldProblem(field: field, reason: reason)])
    }
}
