import TallyCore
import TallyHTTP
import Testing

/// One reading of query parameters for every route; what a bare date means is the route's explicit choice.
@Suite struct QueryParametersTests {
    func refusal(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as APIError { return e.message } catch { return "\(error)" }
        return nil
    }

    @Test func unknownAndRepeatedParametersAreRefusedByName() {
        #expect(
            refusal { _ = try QueryParameters([("limt", "5")], allowed: ["limit"]) }
                == "query parameter 'limt' is not a known parameter")
        #expect(
            refusal { _ = try QueryParameters([("limit", "5"), ("limit", "6")], allowed: ["limit"]) }
                == "query parameter 'limit' is given more than once")
        #expect(
            refusal { _ = try QueryParameters([("limit", "0")], allowed: ["limit"]).integer("limit", in: 1...1000) }
                == "query parameter 'limit' must be an integer from 1 to 1000")
        #expect(
            refusal { _ = try QueryParameters([("all", "yes")], allowed: ["all"]).bool("all") }
                == "query parameter 'all' must be true or false")
        #expect(
            refusal { _ = try QueryParameters([("on", "tomorrow")], allowed: ["on"]).date("on") }
                == "query parameter 'on' must be a date YYYY-MM-DD")
    }

    @Test func aBareDateMeansWhatTheRouteSays() throws {
        let p = try QueryParameters(
            [("from", "2026-11-20"), ("to", "2026-11-20T10:00:00 01:00")], allowed: ["from", "to"])
        let kolkata = try #require(TimeZoneRules(identifier: "Asia/Kolkata"))
        #expect(try p.instant("from", bareDate: .utcMidnight) == Instant(rfc3339: "2026-11-20T00:00:00Z"))
        #expect(try p.instant("from", bareDate: .localMidnight(kolkata)) == Instant(rfc3339: "2026-11-19T18:30:00Z"))
        // The usage routes mend a '+' that arrived as a space; the others refuse it, each in its own words.
        #expect(try p.instant("to", bareDate: .localMidnight(.utc)) == Instant(rfc3339: "2026-11-20T09:00:00Z"))
        #expect(
            refusal { _ = try p.instant("to", bareDate: .utcMidnight) }
                == "query parameter 'to' must be an RFC 3339 date-time or a date YYYY-MM-DD")
        let bad = try QueryParameters([("from", "soon")], allowed: ["from"])
        #expect(
            refusal { _ = try bad.instant("from", bareDate: .localMidnight(.utc)) }
                == "query parameter 'from' must be an RFC 3339 date-time (2026-11-20T00:00:00Z) or a date (2026-11-20)")
        #expect(try p.instant("missing", bareDate: .utcMidnight) == nil)
    }
}
