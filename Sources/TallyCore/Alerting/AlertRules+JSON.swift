/// The one JSON shape of an organization's alert rules: what `GET/PUT /api/v1/alert-rules` speak and what the store
/// keeps as the rules' definition, so the two cannot drift apart.
///
/// `{"spike": {"enabled", "threshold_percent", "floor_usd"}, "provider_connection": {"enabled"},
/// "unpriced_model": {"enabled"}, "forecast_overrun": {"enabled"}, "anomaly": {"enabled"}, "channels": ["ch_…"],
/// "muted_until": {"spike": "<RFC 3339>"}}`
extension AlertRules {
    /// The rules `muted_until` may name.
    public static let ruleNames = ["spike", "provider_connection", "unpriced_model", "forecast_overrun", "anomaly"]
    public static let thresholdPercentRange = 1...10_000
    /// The largest spike floor: a million dollars a day above the average is no longer a spike worth a floor.
    public static let maximumFloor = USD(nanos: 1_000_000 * 1_000_000_000)
    public static let maximumChannels = 20

    public var json: String {
        var w = JSONWriter()
        w.beginObject()
        w.key("spike")
        w.beginObject()
        w.field("enabled", spike.enabled)
        w.field("threshold_percent", spike.thresholdPercent)
        // Like every amount the API writes: at least two decimals ("1.00").
        let floor = spike.floor.decimalString
        w.field(
            "floor_usd",
            floor.contains(".") ? (floor.split(separator: ".")[1].count == 1 ? floor + "0" : floor) : floor + ".00")
        w.endObject()
        w.key("provider_connection")
        w.beginObject()
        w.field("enabled", providerConnection.enabled)
        w.endObject()
        w.key("unpriced_model")
        w.beginObject()
        w.field("enabled", unpricedModel.enabled)
        w.endObject()
        for (name, rule) in [("forecast_overrun", forecastOverrun), ("anomaly", anomaly)] {
            w.key(name)
            w.beginObject()
            w.field("enabled", rule.enabled)
            w.endObject()
        }
        w.key("channels")
        w.beginArray()
        for id in channelIDs { w.string(id) }
        w.endArray()
        w.key("muted_until")
        w.beginObject()
        for rule in Self.ruleNames { if let until = mutedUntil[rule] { w.field(rule, until.rfc3339) } }
        w.endObject()
        w.endObject()
        return w.text
    }

    /// These rules with the members `value` gives changed; members left out keep their value, `"muted_until":
    /// {"spike": null}` unmutes. Every problem is a `TallyError.invalid` naming its field by path
    /// (`spike.threshold_percent`). Channels are checked for form here, for existence by the caller.
    public func applying(_ value: JSONValue) throws -> AlertRules {
        var rules = self
        let top = try JSONFields(
            value,
            allowed: [
                "spike", "provider_connection", "unpriced_model", "forecast_overrun", "anomaly", "channels",
                "muted_until",
            ])
        if let spike = try Self.object(top, "spike", allowed: ["enabled", "threshold_percent", "floor_usd"]) {
            if let enabled = try Self.named("spike", { try spike.bool("enabled") }) { rules.spike.enabled = enabled }
            if let percent = try Self.named("spike", { try spike.integer("threshold_percent") }) {
                guard Self.thresholdPercentRange.contains(percent) else {
                    throw Self.problem(
                        "spike.threshold_percent",
                        "must be a whole number from \(Self.thresholdPercentRange.lowerBound) to \(Self.thresholdPercentRange.upperBound)"
                    )
                }
                rules.spike.thresholdPercent = percent
            }
            if let text = try Self.named("spike", { try spike.string("floor_usd") }) {
                guard let floor = USD(decimal: text), floor >= .zero, floor <= Self.maximumFloor else {
                    throw Self.problem(
                        "spike.floor_usd",
                        "must be a decimal string of dollars from \"0\" to \"\(Self.maximumFloor.decimalString)\", such as \"1.00\""
                    )
                }
                rules.spike.floor = floor
            }
        }
        for (name, keyPath) in [
            ("provider_connection", \AlertRules.providerConnection), ("unpriced_model", \AlertRules.unpricedModel),
            ("forecast_overrun", \AlertRules.forecastOverrun), ("anomaly", \AlertRules.anomaly),
        ] {
            if let rule = try Self.object(top, name, allowed: ["enabled"]),
                let enabled = try Self.named(name, { try rule.bool("enabled") })
            {
                rules[keyPath: keyPath].enabled = enabled
            }
        }
        if let channels = top.members["channels"] {
            rules.channelIDs = try Self.channelIDs(channels)
        }
        if let muted = try Self.object(top, "muted_until", allowed: Set(Self.ruleNames)) {
            for rule in Self.ruleNames where muted.members[rule] != nil {
                rules.mutedUntil[rule] = try Self.named("muted_until", { try muted.instant(rule, required: false) })
            }
        }
        return rules
    }

    /// The rules a stored definition holds (written by `json`), on top of the defaults.
    public init(definition: String) throws {
        self = try AlertRules().applying(try JSONParser.parse(Array(definition.utf8)))
    }

    /// Whether `id` has the form of an alert channel id ("ch_" and up to 64 ASCII letters, digits and "_"): checked
    /// before any lookup, so a NUL byte or other junk never reaches a store (PostgreSQL refuses NUL in text).
    public static func isChannelID(_ id: String) -> Bool {
        id.hasPrefix("ch_") && id.utf8.count <= 64
            && id.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0)
                    || (0x61...0x7A).contains($0)
            }
    }

    private static func channelIDs(_ value: JSONValue) throws -> [String] {
        guard case .array(let items) = value, items.count <= maximumChannels else {
            throw problem("channels", "must be a list of at most \(maximumChannels) alert channel ids")
        }
        var ids: [String] = []
        for item in items {
            guard case .string(let id) = item, isChannelID(id) else {
                throw problem("channels", "must hold alert channel ids such as \"ch_…\"")
            }
            if !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    private static func object(_ fields: JSONFields, _ name: String, allowed: Set<String>) throws -> JSONFields? {
        guard let value = fields.members[name], value != .null else { return nil }
        return try named(name) { try JSONFields(value, allowed: allowed) }
    }

    /// Runs a read of a nested object, prefixing the fields its problems name with the object's name.
    private static func named<T>(_ prefix: String, _ read: () throws -> T) throws -> T {
        do {
            return try read()
        } catch TallyError.invalid(let problems) {
            throw TallyError.invalid(
                problems.map { p in
                    var p = p
                    p.field = p.field == "body" ? prefix : "\(prefix).\(p.field)"
                    return p
                })
        }
    }

    private static func problem(_ field: String, _ reason: String) -> TallyError {
        TallyError.invalid([FieldProblem(field: field, reason: reason)])
    }
}
