import TallyCore

/// One page of a provider report, decoded: whole buckets, and where the next page is.
public struct ReportPage<Row: Sendable & Equatable>: Sendable, Equatable {
    public var buckets: [ProviderBucket<Row>]
    public var hasMore: Bool
    public var nextPage: String?
}

/// A provider answer that does not match its documented format. Nothing of that page is stored.
public struct MalformedReport: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "malformed provider answer: \(path) \(reason)" }
}

/// Decodes the providers' usage and cost reports (docs: ../shared/reference/provider-apis.md 1.2, 1.3, 2.2, 2.3) into
/// Tally's terms. Numbers are read from their JSON text, so amounts stay exact. What every report shares is here;
/// each provider's buckets and rows are in its folder.
public enum ReportDecoding {
    // MARK: Reading helpers

    struct Reader {
        let value: JSONValue
        let path: String

        func field(_ name: String) -> Reader? {
            guard let v = value[name], v != .null else { return nil }
            return Reader(value: v, path: path + "." + name)
        }

        func require(_ name: String) throws(MalformedReport) -> Reader {
            guard let r = field(name) else { throw MalformedReport(path: path + "." + name, reason: "is missing") }
            return r
        }

        /// A count: a whole number from 0 to `UsageLimits.maxCount`. Anything else refuses the page, so a hostile or
        /// broken report can neither trap the sync (which would stop every replica) nor store an absurd number.
        func int() throws(MalformedReport) -> Int64 {
            guard case .number(let text) = value, let n = Int64(text) else {
                throw MalformedReport(path: path, reason: "is not an integer")
            }
            guard (0...UsageLimits.maxCount).contains(n) else {
                throw MalformedReport(path: path, reason: "is \(n), outside 0 to \(UsageLimits.maxCount)")
            }
            return n
        }

        /// Unix seconds from 1970 to 9999, so the microseconds never overflow.
        func unixSeconds(_ name: String) throws(MalformedReport) -> Instant {
            let r = try require(name)
            guard case .number(let text) = r.value, let n = Int64(text), (0...253_402_300_799).contains(n) else {
                throw MalformedReport(path: r.path, reason: "is not a Unix time in seconds")
            }
            return Instant(seconds: n)
        }

        /// An amount within ±`UsageLimits.maxAmount`, from exact decimal text.
        func amount(_ text: String, shift: Int = 0) throws(MalformedReport) -> USD {
            guard let usd = USD(literal: text, shift: shift) else {
                throw MalformedReport(
                    path: path, reason: shift == 2 ? "is not a decimal amount in cents" : "is not a decimal amount")
            }
            guard usd.nanos.magnitude <= UsageLimits.maxAmount.nanos.magnitude else {
                throw MalformedReport(path: path, reason: "is beyond \(UsageLimits.maxAmount.decimalString) USD")
            }
            return usd
        }

        func string() throws(MalformedReport) -> String {
            guard case .string(let s) = value else { throw MalformedReport(path: path, reason: "is not a string") }
            return s
        }

        func bool() throws(MalformedReport) -> Bool {
            guard case .bool(let b) = value else { throw MalformedReport(path: path, reason: "is not true or false") }
            return b
        }

        func array() throws(MalformedReport) -> [Reader] {
            guard case .array(let items) = value else { throw MalformedReport(path: path, reason: "is not an array") }
            return items.enumerated().map { Reader(value: $0.element, path: "\(path)[\($0.offset)]") }
        }

        func int(_ name: String) throws(MalformedReport) -> Int64 { try require(name).int() }
        func optionalInt(_ name: String) throws(MalformedReport) -> Int64 { try field(name)?.int() ?? 0 }
        func optionalString(_ name: String) throws(MalformedReport) -> String? { try field(name)?.string() }
    }

    static func page<Row>(_ json: JSONValue, bucket: (Reader) throws(MalformedReport) -> ProviderBucket<Row>)
        throws(MalformedReport) -> ReportPage<Row>
    {
        let root = Reader(value: json, path: "$")
        var buckets: [ProviderBucket<Row>] = []
        for b in try root.require("data").array() { buckets.append(try bucket(b)) }
        let hasMore = try root.require("has_more").bool()
        let next = try root.optionalString("next_page")
        if hasMore && next == nil {
            throw MalformedReport(path: "$.next_page", reason: "is missing while has_more is true")
        }
        return ReportPage(buckets: buckets, hasMore: hasMore, nextPage: hasMore ? next : nil)
    }
}
