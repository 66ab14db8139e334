import TallyCore

// The FinOps FOCUS export's pure part: one CSV row per charge, the header, and the exact split of a stored cost.
//
// Target: FOCUS 1.2, the columns that apply to metered LLM API usage. Checked with focus-validator 1.0.0, the newest
// on PyPI, which knows FOCUS 1.0 only (e2e/focus_check.py says how it is run and which of its checks it skips).
//
// Formats (FOCUS 1.2 attributes):
// - Date/times: `YYYY-MM-DDTHH:mm:ssZ`, UTC, whole seconds (DateTimeFormat).
// - Numbers: plain decimals, exact, no exponent, no `+`, no thousands separator, `-` for negatives (NumericFormat).
//   Integers stay integers (`12`, not `12.0`): the spec allows both.
// - Units: `Tokens` / `Requests` consumed; priced per `1000000 Tokens` as the providers publish their prices (per
//   million), with PricingQuantity = tokens / 10⁶ exact (UnitFormat: a unit quantity is a positive integer, so
//   `1000000 Tokens`, not `1M Tokens`). Per-token prices would be tiny numbers (0.0000025) that float-based FinOps
//   tools print as 2.5e-06 or round away; per-million prices read as the provider's price list does, which is what
//   PricingUnit and ListUnitPrice must match.
// - Tags: a JSON object, keys sorted by their UTF-8 bytes; no tags is null (an empty cell), not `{}`.
// - Custom columns carry the `x_` prefix.
// - Null is an empty cell.
//
// Mapping: a project is the SubAccount (FOCUS's grouping of usage, as OpenAI projects and Anthropic workspaces are)
// and, ResourceType "Project", the Resource (the finest thing Tally attributes usage to). SkuId is
// provider/model/tokenClass, SkuPriceId the price entry's id/tokenClass. Tally's entry ids carry their first day, so
// a price change gives a new SkuPriceId (FOCUS wants one stable across price changes), and a price entry shared by
// several names of a model gives one SkuPriceId several SkuIds (FOCUS wants one parent): both are kept so that the
// SkuPriceId names the catalog entry that verifies ListUnitPrice.
//
// Unpriced rows (no price entry): the cost as given (0), ListUnitPrice, ContractedUnitPrice and SkuPriceId null,
// x_Unpriced=true. FOCUS 1.2 wants those three non-null on Usage rows; a price of 0 would be false, and FinOps tools
// would read it as free usage in unit-price trends, so the unknown price stays null and the row is flagged. The pinned
// validator accepts it.

/// One FOCUS charge row: a local day × project × model × price entry × token class of Tally's observed usage.
public struct FocusCharge: Sendable, Equatable {
    /// The local day, as UTC instants.
    public var chargePeriod: TimeRange
    /// The local calendar month containing it.
    public var billingPeriod: TimeRange
    /// `"openai"`, `"anthropic"`, `"google"`, or another provider name.
    public var provider: String
    public var projectID: String
    public var projectName: String
    /// The model as called.
    public var model: String
    /// The price entry, nil when unpriced.
    public var priceID: String?
    /// A `TokenClass` raw value, or `"request"` for a per-request price.
    public var tokenClass: String
    /// Tokens (or requests).
    public var quantity: Int64
    /// Exact decimal USD per 1M tokens (per request for `"request"`); nil when unpriced.
    public var listUnitPricePerMillion: String?
    /// The exact share of the stored cost (see `FocusCSV.allocate`).
    public var cost: USD
    /// E.g. `("project", name)`, `("environment", …)`: emitted as a JSON object, keys sorted, the first of a repeated
    /// key kept.
    public var tags: [(String, String)]
    /// The price entry's first day (`x_PriceEntryFrom`); nil when unpriced or not known.
    public var priceEntryFrom: CivilDate?
    /// The organization's billing account with the provider; nil: the provider's name (`"openai"`), Tally then
    /// standing for one account per provider.
    public var billingAccountID: String?
    /// Its display name; nil: the provider's company name.
    public var billingAccountName: String?

    public init(
        chargePeriod: TimeRange, billingPeriod: TimeRange, provider: String, projectID: String, projectName: String,
        model: String, priceID: String?, tokenClass: String, quantity: Int64, listUnitPricePerMillion: String?,
        cost: USD, tags: [(String, String)] = [], priceEntryFrom: CivilDate? = nil, billingAccountID: String? = nil,
        billingAccountName: String? = nil
    ) {
        self.chargePeriod = chargePeriod
        self.billingPeriod = billingPeriod
        self.provider = provider
        self.projectID = projectID
        self.projectName = projectName
        self.model = model
        self.priceID = priceID
        self.tokenClass = tokenClass
        self.quantity = quantity
        self.listUnitPricePerMillion = listUnitPricePerMillion
        self.cost = cost
        self.tags = tags
        self.priceEntryFrom = priceEntryFrom
        self.billingAccountID = billingAccountID
        self.billingAccountName = billingAccountName
    }

    public static func == (a: FocusCharge, b: FocusCharge) -> Bool {
        a.chargePeriod == b.chargePeriod && a.billingPeriod == b.billingPeriod && a.provider == b.provider
            && a.projectID == b.projectID && a.projectName == b.projectName && a.model == b.model
            && a.priceID == b.priceID && a.tokenClass == b.tokenClass && a.quantity == b.quantity
            && a.listUnitPricePerMillion == b.listUnitPricePerMillion && a.cost == b.cost
            && a.tags.count == b.tags.count && zip(a.tags, b.tags).allSatisfy { $0 == $1 }
            && a.priceEntryFrom == b.priceEntryFrom && a.billingAccountID == b.billingAccountID
            && a.billingAccountName == b.billingAccountName
    }
}

public enum FocusCSV {
    /// The columns: FOCUS 1.2's that apply, alphabetically (as the spec lists them), then Tally's own, `x_`-prefixed.
    ///
    /// All 21 columns FOCUS 1.2 makes mandatory are here. Left out, as FOCUS 1.2 allows for conditional columns whose
    /// condition Tally cannot meet: commitment discounts and capacity reservations (Tally prices at list), regions and
    /// availability zones (the APIs are global and the region is not known), invoice ids (estimates are not invoiced),
    /// pricing currency (always the billing currency), account types, SKU meters and price details.
    public static let columns: [String] = [
        "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
        "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
        "ChargePeriodEnd",
        "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
        "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity",
        "PricingUnit", "ProviderName", "PublisherName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
        "ServiceName", "ServiceSubcategory", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
        "x_CostSource", "x_Model", "x_PriceEntryFrom", "x_PriceEntryId", "x_ProjectId", "x_ProjectName", "x_Provider",
        "x_TokenClass", "x_Unpriced",
    ]

    /// The header line, with CRLF.
    public static let header: String = columns.joined(separator: ",") + "\r\n"

    /// `x_CostSource`: every figure is Tally's estimate from list prices, not the provider's invoice.
    public static let costSource = "tally_estimate"

    /// One CSV line with CRLF: RFC 4180 quoting; a text cell beginning with `= + - @`, a tab or a carriage return gets
    /// a leading `'` (spreadsheet formula injection); numeric and date cells are written by this file, never
    /// prefixed (a negative number stays a number).
    public static func row(_ c: FocusCharge) -> String {
        let company = companyName(c.provider)
        let perRequest = c.tokenClass == "request"
        // The unit price, or nil for an unpriced row: no price entry, or no price that is an exact decimal.
        let price = c.priceID == nil ? nil : c.listUnitPricePerMillion.flatMap(exactPrice)
        // Tally estimates every charge from the providers' list prices and knows of no negotiated, commitment or
        // other discount, so the four costs are one figure: billed = effective = list = contracted. ContractedUnitPrice
        // is ListUnitPrice for the same reason.
        let cost = c.cost.decimalString
        let unitText = perRequest ? "Requests" : "Tokens"
        let description =
            "\(company) \(c.model) \(perRequest ? "requests" : spaced(c.tokenClass) + " tokens")"
            + (price.map { ", \($0) USD per \(perRequest ? "request" : "1M tokens")" } ?? ", not priced by Tally")

        var cells: [String] = []
        cells.reserveCapacity(columns.count)
        cells.append(cost)  // BilledCost
        cells.append(text(nonEmpty(c.billingAccountID) ?? nonEmpty(c.provider) ?? "unknown"))  // BillingAccountId
        cells.append(text(nonEmpty(c.billingAccountName) ?? company))  // BillingAccountName
        cells.append("USD")  // BillingCurrency
        cells.append(dateTime(c.billingPeriod.to))  // BillingPeriodEnd
        cells.append(dateTime(c.billingPeriod.from))  // BillingPeriodStart
        cells.append("Usage")  // ChargeCategory
        cells.append("")  // ChargeClass: null, no row is a correction of an invoiced period
        cells.append(text(description))  // ChargeDescription
        cells.append("Usage-Based")  // ChargeFrequency
        cells.append(dateTime(c.chargePeriod.to))  // ChargePeriodEnd
        cells.append(dateTime(c.chargePeriod.from))  // ChargePeriodStart
        cells.append(decimal(c.quantity, scale: 0))  // ConsumedQuantity
        cells.append(unitText)  // ConsumedUnit
        cells.append(cost)  // ContractedCost
        cells.append(price ?? "")  // ContractedUnitPrice
        cells.append(cost)  // EffectiveCost
        cells.append(text(company))  // InvoiceIssuerName
        cells.append(cost)  // ListCost
        cells.append(price ?? "")  // ListUnitPrice
        cells.append("Standard")  // PricingCategory
        cells.append(decimal(c.quantity, scale: perRequest ? 0 : 6))  // PricingQuantity
        cells.append(perRequest ? "Requests" : "1000000 Tokens")  // PricingUnit
        cells.append(text(company))  // ProviderName
        cells.append(text(company))  // PublisherName
        cells.append(text(c.projectID))  // ResourceId
        cells.append(text(c.projectName))  // ResourceName
        cells.append(c.projectID.isEmpty ? "" : "Project")  // ResourceType
        cells.append("AI and Machine Learning")  // ServiceCategory
        cells.append(text(serviceName(c.provider)))  // ServiceName
        cells.append("Generative AI")  // ServiceSubcategory
        cells.append(text("\(c.provider)/\(c.model)/\(c.tokenClass)"))  // SkuId
        cells.append(c.priceID.map { text("\($0)/\(c.tokenClass)") } ?? "")  // SkuPriceId
        cells.append(text(c.projectID))  // SubAccountId
        cells.append(text(c.projectName))  // SubAccountName
        cells.append(tagsJSON(c.tags).map(text) ?? "")  // Tags
        cells.append(costSource)  // x_CostSource
        cells.append(text(c.model))  // x_Model
        cells.append(c.priceEntryFrom.map { "\($0)" } ?? "")  // x_PriceEntryFrom
        cells.append(c.priceID.map(text) ?? "")  // x_PriceEntryId
        cells.append(text(c.projectID))  // x_ProjectId
        cells.append(text(c.projectName))  // x_ProjectName
        cells.append(text(c.provider))  // x_Provider
        cells.append(text(c.tokenClass))  // x_TokenClass
        cells.append(price == nil ? "true" : "false")  // x_Unpriced
        return cells.joined(separator: ",") + "\r\n"
    }

    /// Splits a group's exact stored cost over its lines in proportion to each line's computed cost, largest
    /// remainder, so the parts add up to `total` exactly (nano-dollars) — stored costs were rounded per event, so
    /// re-pricing summed tokens may differ by a few nanos from the stored sum. All-zero weights: everything to the
    /// first line. Negative or overflow inputs must not trap.
    ///
    /// Each part is within one nano-dollar of its exact proportional share; leftover nanos go to the largest
    /// remainders, ties to the earlier line, so the split is deterministic. When some weight is positive, negative
    /// weights count as zero; when none is, the weights' magnitudes are used (a group of refunds splits in proportion
    /// too). No weights: no parts. Arithmetic is in Int128, where |total| × weight (< 2¹²⁶) cannot overflow.
    public static func allocate(_ total: USD, weights: [USD]) -> [USD] {
        guard !weights.isEmpty else { return [] }
        let anyPositive = weights.contains { $0.nanos > 0 }
        let w: [Int128] = weights.map { anyPositive ? Int128(max($0.nanos, 0)) : Int128($0.nanos).magnitudeAsInt128 }
        let sum = w.reduce(Int128(0), +)
        let negative = total.nanos < 0
        let amount = Int128(total.nanos).magnitudeAsInt128  // at most 2⁶³
        var parts = [Int128](repeating: 0, count: w.count)
        if sum == 0 {
            parts[0] = amount
        } else {
            var remainders: [(remainder: Int128, index: Int)] = []
            remainders.reserveCapacity(w.count)
            var given: Int128 = 0
            for i in w.indices {
                let scaled = amount * w[i]
                parts[i] = scaled / sum
                given += parts[i]
                remainders.append((scaled % sum, i))
            }
            // Each floor is short of its share by less than one, so fewer nanos are left than there are lines.
            let left = Int(amount - given)
            if left > 0 {
                remainders.sort { $0.remainder != $1.remainder ? $0.remainder > $1.remainder : $0.index < $1.index }
                for r in remainders.prefix(left) { parts[r.index] += 1 }
            }
        }
        // Every part is at most |total| ≤ 2⁶³, and −2⁶³ is Int64.min: the conversion cannot trap.
        return parts.map { USD(nanos: Int64(negative ? -$0 : $0)) }
    }

    // MARK: - Names

    /// The provider's company: ProviderName, PublisherName and InvoiceIssuerName (the organization pays the provider
    /// directly).
    static func companyName(_ provider: String) -> String {
        switch provider {
        case "openai": "OpenAI"
        case "anthropic": "Anthropic"
        case "google": "Google"
        case "": "unknown"
        default: provider
        }
    }

    static func serviceName(_ provider: String) -> String {
        switch provider {
        case "openai": "OpenAI API"
        case "anthropic": "Anthropic API"
        case "google": "Gemini API"
        default: "\(companyName(provider)) API"
        }
    }

    // MARK: - Cells

    /// A text cell: formula-prefixed, then quoted per RFC 4180 when it holds a comma, a quote, CR or LF. Works on
    /// Unicode scalars: `"\r\n"` is one Character in Swift, and a Character-wise search for `"\n"` misses it.
    static func text(_ raw: String) -> String {
        var value = raw
        if let first = value.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            value = "'" + value
        }
        guard value.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return value
        }
        var quoted = "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" { quoted.unicodeScalars.append("\"") }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\""
    }

    /// `value / 10^scale` as an exact plain decimal without trailing zeros (`1234567, 6` → `"1.234567"`).
    static func decimal(_ value: Int64, scale: Int) -> String {
        let digits = String(value.magnitude)
        let sign = value < 0 ? "-" : ""
        guard scale > 0 else { return sign + digits }
        let padded = digits.count > scale ? digits : String(repeating: "0", count: scale + 1 - digits.count) + digits
        let whole = padded.dropLast(scale)
        var fraction = Substring(padded.suffix(scale))
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return sign + whole + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// A price as an exact, non-negative plain decimal in canonical form, or nil when it is not one (then the row is
    /// written as unpriced rather than with a cell that is not a number).
    static func exactPrice(_ text: String) -> String? {
        guard let usd = USD(decimal: text), usd.nanos >= 0 else { return nil }
        return usd.decimalString
    }

    /// `YYYY-MM-DDTHH:mm:ssZ` (sub-second parts dropped: periods start at whole seconds).
    static func dateTime(_ instant: Instant) -> String {
        let seconds = floorDiv(instant.microseconds, 1_000_000)
        let date = CivilDate(daysSinceEpoch: floorDiv(seconds, 86_400))
        let t = floorMod(seconds, 86_400)
        return "\(date)T\(twoDigits(t / 3600)):\(twoDigits(t / 60 % 60)):\(twoDigits(t % 60))Z"
    }

    private static func twoDigits(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    private static func spaced(_ s: String) -> String { String(s.map { $0 == "_" ? " " : $0 }) }

    private static func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }

    /// The tags as a JSON object (RFC 8259), keys sorted by UTF-8 bytes, the first of a repeated key kept; nil for
    /// no tags.
    static func tagsJSON(_ tags: [(String, String)]) -> String? {
        guard !tags.isEmpty else { return nil }
        var seen = Set<String>()
        var unique: [(key: String, value: String)] = []
        for (key, value) in tags where seen.insert(key).inserted { unique.append((key, value)) }
        unique.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return "{" + unique.map { jsonString($0.key) + ":" + jsonString($0.value) }.joined(separator: ",") + "}"
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Int128 {
    /// |self| as an Int128 (for a value from an Int64, always representable).
    fileprivate var magnitudeAsInt128: Int128 { self < 0 ? -self : self }
}
