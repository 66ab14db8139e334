import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

/// The query parameters shared by the event list, the export and the summary.
struct UsageParameters {
    static let filterNames: [String: UsageDimension] = Dictionary(uniqueKeysWithValues: UsageDimension.allCases.map { ($0.rawValue, $0) })

    var values: [String: String] = [:]

    /// Rejects parameters the route does not know, so a typo is an error rather than a silently ignored filter.
    init(_ request: Request, allowed: Set<String>) throws {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) || Self.filterNames[name] != nil else {
                throw APIError.badParameter(name, "is not a known parameter")
            }
            guard values[name] == nil else { throw APIError.badParameter(name, "is given more than once") }
            values[name] = String(value)
        }
    }

    /// Filters by name; project names become ids. A token without admin scope only sees its own project.
    func filters(store: some TallyStore, principal: Principal) async throws -> DimensionFilters {
        var filters: DimensionFilters = [:]
        for (name, dimension) in Self.filterNames {
            guard let raw = values[name] else { continue }
            let list = raw.split(separator: ",").map(String.init).filter { !$0.isEmpty }
            guard !list.isEmpty else { throw APIError.badParameter(name, "must not be empty") }
            filters[dimension] = list
        }
        if let names = filters[.project] {
            var ids: [String] = []
            for name in names {
                if let project = try await store.project(organizationID: principal.organizationID, name: name) { ids.append(project.id) }
            }
            filters[.project] = ids
        }
        if let scope = principal.projectScope {
            let allowed = filters[.project].map { $0.filter { scope.contains($0) } } ?? scope
            filters[.project] = allowed
        }
        return filters
    }

    /// An RFC 3339 instant, or a `YYYY-MM-DD` date meaning that day's local midnight.
    func instant(_ name: String, zone: TimeZoneRules) throws -> Instant? {
        guard var raw = values[name] else { return nil }
        if let date = CivilDate(parsing: raw) { return zone.startOfDay(date) }
        // A '+' offset arrives as a space when the client did not percent-encode it.
        if raw.count > 19, let space = raw.lastIndex(of: " "), raw.distance(from: raw.startIndex, to: space) >= 19 {
            raw.replaceSubrange(space...space, with: "+")
        }
        guard let instant = Instant(rfc3339: raw) else {
            throw APIError.badParameter(name, "must be an RFC 3339 date-time (2026-11-20T00:00:00Z) or a date (2026-11-20)")
        }
        return instant
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = values[name] else { return nil }
        guard let n = Int(raw), range.contains(n) else {
            throw APIError.badParameter(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }
}
