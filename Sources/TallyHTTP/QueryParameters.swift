import Hummingbird
import TallyCore

/// The query parameters of an API route, read one way everywhere: a parameter the route does not know, or one given
/// twice, is refused (a typo is an error, not a silently ignored filter), and each typed accessor names the parameter
/// in its error (`query parameter 'limit' must be an integer from 1 to 1000`).
///
/// A bare date `YYYY-MM-DD` where an instant is expected means what the route says it means, never a default:
/// - `.localMidnight(zone)`, the day's first instant in the organization's time zone: `GET /api/v1/events`,
///   `/events/export` and `/usage/summary` (`from`, `to`);
/// - `.utcMidnight`, 00:00 UTC: `GET /api/v1/prices` (`at`), `/prices/unpriced` (`from`, `to`), `/reconciliation`
///   (`from`, `to`, whose days are UTC days) and `/audit` (`before`).
/// docs/api.md lists the same.
package struct QueryParameters: Sendable {
    /// What a bare date means where an instant is expected.
    package enum BareDate: Sendable {
        /// The day's first instant in this zone (the day's first instant where daylight saving skips midnight).
        case localMidnight(TimeZoneRules)
        /// 00:00 UTC of the day.
        case utcMidnight
    }

    package private(set) var values: [String: String] = [:]

    /// Rejects parameters not in `allowed`, and any given more than once.
    package init(_ request: Request, allowed: Set<String>) throws {
        try self.init(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, allowed: allowed)
    }

    package init(_ pairs: [(String, String)], allowed: Set<String>) throws {
        for (name, value) in pairs {
            guard allowed.contains(name) else { throw APIError.badParameter(name, "is not a known parameter") }
            guard values[name] == nil else { throw APIError.badParameter(name, "is given more than once") }
            values[name] = value
        }
    }

    package subscript(_ name: String) -> String? { values[name] }

    package func string(_ name: String) -> String? { values[name] }

    /// An RFC 3339 instant, or a `YYYY-MM-DD` date meaning what `bareDate` says.
    ///
    /// The two kinds of routes keep their own wording of the error, and only the usage routes (local midnight) mend a
    /// `+` offset that arrived as a space: both as before issue 15.
    package func instant(_ name: String, bareDate: BareDate) throws -> Instant? {
        guard var raw = values[name] else { return nil }
        switch bareDate {
        case .localMidnight(let zone):
            if let date = CivilDate(parsing: raw) { return zone.startOfDay(date) }
            // A '+' offset arrives as a space when the client did not percent-encode it.
            if raw.count > 19, let space = raw.lastIndex(of: " "), raw.distance(from: raw.startIndex, to: space) >= 19 {
                raw.replaceSubrange(space...space, with: "+")
            }
            guard let instant = Instant(rfc3339: raw) else {
                throw APIError.badParameter(
                    name, "must be an RFC 3339 date-time (2026-11-20T00:00:00Z) or a date (2026-11-20)")
            }
            return instant
        case .utcMidnight:
            if let date = CivilDate(parsing: raw) { return Instant(seconds: date.daysSinceEpoch * 86_400) }
            guard let instant = Instant(rfc3339: raw) else {
                throw APIError.badParameter(name, "must be an RFC 3339 date-time or a date YYYY-MM-DD")
            }
            return instant
        }
    }

    package func date(_ name: String) throws -> CivilDate? {
        guard let raw = values[name] else { return nil }
        guard let d = CivilDate(parsing: raw) else { throw APIError.badParameter(name, "must be a date YYYY-MM-DD") }
        return d
    }

    package func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = values[name] else { return nil }
        guard let n = Int(raw), range.contains(n) else {
            throw APIError.badParameter(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    package func bool(_ name: String) throws -> Bool? {
        guard let raw = values[name] else { return nil }
        switch raw {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badParameter(name, "must be true or false")
        }
    }

    /// A comma list of names (empty items dropped); nil when absent.
    package func list(_ name: String) -> [String]? {
        values[name].map { $0.split(separator: ",").map(String.init).filter { !$0.isEmpty } }
    }
}
