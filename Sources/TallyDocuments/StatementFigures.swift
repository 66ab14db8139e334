import TallyCore

/// The figures documents print, each formatted by one function, so the text, PDF and email forms of a statement
/// (and the test that reads the PDF back) see the same strings. Integer arithmetic only: money never becomes a Double.
public enum StatementFigures {
    /// A group's share of the total as a percentage with one decimal, rounded half up, exact integer math: "12.3";
    /// "0.0" when total is zero.
    ///
    /// Halves round away from zero, so a negative share (a refund in a group) mirrors the positive one.
    public static func share(_ part: USD, of total: USD) -> String {
        percent(Int128(part.nanos), of: Int128(total.nanos)) ?? "0.0"
    }

    /// Money as shown in documents: "$1,234.56" for amounts ≥ 1 cent, with more decimals (up to 6, trailing zeros
    /// trimmed, min 2) when the amount is smaller than a cent or not a whole cent, e.g. "$0.000123"; negative
    /// "-$1.00".
    ///
    /// Beyond the sixth decimal the amount is rounded half away from zero: a price per token can have nine.
    public static func money(_ amount: USD) -> String {
        let magnitude = amount.nanos.magnitude
        let decimals: String
        let whole: UInt64
        if magnitude % 10_000_000 == 0 {
            whole = magnitude / 1_000_000_000
            decimals = padded(magnitude / 10_000_000 % 100, 2)
        } else {
            let micros = magnitude / 1000 + (magnitude % 1000 >= 500 ? 1 : 0)
            whole = micros / 1_000_000
            var fraction = padded(micros % 1_000_000, 6)
            while fraction.count > 2, fraction.last == "0" { fraction.removeLast() }
            decimals = fraction
        }
        // An amount that rounds to zero is shown without a sign: "-$0.00" would read as a debt.
        let negative = amount.nanos < 0 && (whole != 0 || decimals.contains { $0 != "0" })
        return (negative ? "-$" : "$") + grouped(whole) + "." + decimals
    }

    /// A count with thousands separators: "12,480".
    static func count(_ value: Int64) -> String {
        (value < 0 ? "-" : "") + grouped(value.magnitude)
    }

    /// `money(amount)` with an explicit sign for a change: "+$12.30", "-$4.00", "$0.00".
    static func moneyChange(_ amount: USD) -> String {
        let text = money(amount)
        return amount.nanos > 0 && text != "$0.00" ? "+" + text : text
    }

    /// `count(value)` with an explicit sign for a change: "+1,200".
    static func countChange(_ value: Int64) -> String { (value > 0 ? "+" : "") + count(value) }

    /// How a figure moved from the previous period: "+$12.30 (+8.2%)"; only the difference when the previous figure
    /// was zero (a percentage of nothing means nothing), "no change" when equal.
    static func change(_ current: USD, from previous: USD) -> String {
        change(Int128(current.nanos) - Int128(previous.nanos), previous: Int128(previous.nanos)) {
            moneyChange(USD(nanos: Int64(clamping: $0)))
        }
    }

    static func change(_ current: Int64, from previous: Int64) -> String {
        change(Int128(current) - Int128(previous), previous: Int128(previous)) { countChange(Int64(clamping: $0)) }
    }

    private static func change(_ difference: Int128, previous: Int128, _ format: (Int128) -> String) -> String {
        guard difference != 0 else { return "no change" }
        guard let relative = percent(difference, of: previous) else { return format(difference) }
        return "\(format(difference)) (\(difference > 0 ? "+" : "")\(relative)%)"
    }

    /// `part / total × 100` with one decimal, halves away from zero; nil when `total` is zero. Int128 holds any
    /// Int64 times 1000 exactly.
    private static func percent(_ part: Int128, of total: Int128) -> String? {
        guard total != 0 else { return nil }
        let numerator = part.magnitude * 1000
        let denominator = total.magnitude
        var tenths = numerator / denominator
        if (numerator % denominator) * 2 >= denominator { tenths += 1 }
        let negative = (part < 0) != (total < 0) && tenths != 0
        return (negative ? "-" : "") + "\(tenths / 10).\(tenths % 10)"
    }

    private static func padded(_ value: UInt64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func grouped(_ value: UInt64) -> String {
        let digits = String(value)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }
}
