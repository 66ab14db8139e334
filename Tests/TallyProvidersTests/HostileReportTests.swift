import Foundation
import TallyCore
import Testing

@testable import TallyProviders

/// The providers' report pages with hostile numbers in every numeric place: each page decodes within the limits or is
/// refused as malformed, naming where; the sync never traps (a trap there ended every replica, each interval).
@Suite struct HostileReportTests {
    static let literals = [
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-1", "-0", "0", "1e308", "1e15", "1.5",
        "1000000000000", "1000000000001", "99999999999999999999999999999999999999999", "\"12\"", "null", "true",
    ]

    /// A page template with `X` at one numeric place, for each place.
    static let openAICompletions = [
        "start_time", "end_time", "input_tokens", "input_cached_tokens", "output_tokens", "input_audio_tokens",
        "input_cached_audio_tokens", "output_audio_tokens", "num_model_requests",
    ].map { place in
        let fields = [
            "input_tokens": "10", "input_cached_tokens": "1", "output_tokens": "5", "input_audio_tokens": "0",
            "input_cached_audio_tokens": "0", "output_audio_tokens": "0", "num_model_requests": "1",
        ]
        .map { k, v in "\"\(k)\":\(k == place ? "X" : v)" }.joined(separator: ",")
        let start = place == "start_time" ? "X" : "1767225600", end = place == "end_time" ? "X" : "1767312000"
        return
            #"{"data":[{"start_time":\#(start),"end_time":\#(end),"results":[{\#(fields),"model":"gpt-4o"}]}],"has_more":false}"#
    }
    static let openAIImages = [
        #"{"data":[{"start_time":0,"end_time":86400,"results":[{"images":X,"num_model_requests":1}]}],"has_more":false}"#
    ]
    static let openAICosts = [
        #"{"data":[{"start_time":0,"end_time":86400,"results":[{"amount":{"value":X,"currency":"usd"},"quantity":X}]}],"has_more":false}"#,
        #"{"data":[{"start_time":0,"end_time":86400,"results":[{"amount":{"value":"X","currency":"usd"}}]}],"has_more":false}"#,
    ]
    static let anthropicMessages = [
        "uncached_input_tokens", "cache_read_input_tokens", "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens", "output_tokens", "web_search_requests",
    ].map { place in
        func v(_ name: String, _ normal: String) -> String { name == place ? "X" : normal }
        return
            #"{"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":[{"uncached_input_tokens":\#(v("uncached_input_tokens", "10")),"cache_read_input_tokens":\#(v("cache_read_input_tokens", "1")),"cache_creation":{"ephemeral_5m_input_tokens":\#(v("ephemeral_5m_input_tokens", "1")),"ephemeral_1h_input_tokens":\#(v("ephemeral_1h_input_tokens", "1"))},"output_tokens":\#(v("output_tokens", "3")),"server_tool_use":{"web_search_requests":\#(v("web_search_requests", "0"))}}]}],"has_more":false}"#
    }
    static let anthropicCosts = [
        #"{"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":[{"currency":"USD","amount":"X"}]}],"has_more":false}"#
    ]

    func check<Row>(
        _ templates: [String], _ decode: (JSONValue) throws(MalformedReport) -> ReportPage<Row>,
        _ accepted: (ReportPage<Row>) -> Bool
    ) {
        for template in templates {
            for literal in Self.literals {
                let text = template.replacingOccurrences(of: "X", with: literal)
                guard let value = try? JSONParser.parse(Array(text.utf8)) else { continue }
                do {
                    let page = try decode(value)
                    #expect(accepted(page), "\(literal) in \(template)")
                } catch {
                    #expect(!error.path.isEmpty && !error.reason.isEmpty)
                }
            }
        }
    }

    @Test func everyReportDecoderTakesHostileNumbersWithoutTrapping() {
        func usageWithinBounds(_ page: ReportPage<ProviderUsageRow>) -> Bool {
            page.buckets.allSatisfy {
                $0.rows.allSatisfy { $0.usage.boundsProblem == nil && (0...UsageLimits.maxCount).contains($0.units) }
            }
        }
        func costsWithinBounds(_ page: ReportPage<ProviderCostRow>) -> Bool {
            page.buckets.allSatisfy {
                $0.rows.allSatisfy { $0.amount.nanos.magnitude <= UsageLimits.maxAmount.nanos.magnitude }
            }
        }
        check(
            Self.openAICompletions,
            { (v: JSONValue) throws(MalformedReport) in try ReportDecoding.openAIUsage(v, report: .openAICompletions) },
            usageWithinBounds)
        check(
            Self.openAIImages,
            { (v: JSONValue) throws(MalformedReport) in try ReportDecoding.openAIUsage(v, report: .openAIImages) },
            usageWithinBounds)
        check(Self.openAICosts, ReportDecoding.openAICosts, costsWithinBounds)
        check(Self.anthropicMessages, ReportDecoding.anthropicMessages, usageWithinBounds)
        check(Self.anthropicCosts, ReportDecoding.anthropicCosts, costsWithinBounds)
    }

    /// The issue's case: `uncached_input_tokens = Int64.max` used to overflow the input sum and trap.
    @Test func anAnthropicReportWithInt64MaxIsRefusedByPath() throws {
        let text = Self.anthropicMessages[0].replacingOccurrences(of: "X", with: "9223372036854775807")
        #expect(
            throws: MalformedReport(
                path: "$.data[0].results[0].uncached_input_tokens",
                reason: "is 9223372036854775807, outside 0 to 1000000000000")
        ) {
            try ReportDecoding.anthropicMessages(JSONParser.parse(Array(text.utf8)))
        }
        // Four counts at the limit each add up past it: refused as a whole row.
        let all =
            #"{"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":[{"uncached_input_tokens":1000000000000,"cache_read_input_tokens":1000000000000,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"server_tool_use":{"web_search_requests":0}}]}],"has_more":false}"#
        #expect(throws: MalformedReport.self) {
            try ReportDecoding.anthropicMessages(JSONParser.parse(Array(all.utf8)))
        }
        // A time in seconds that would overflow microseconds.
        let time = Self.openAIImages[0].replacingOccurrences(
            of: "\"start_time\":0", with: "\"start_time\":9223372036854775807"
        )
        .replacingOccurrences(of: "X", with: "1")
        #expect(throws: MalformedReport.self) {
            try ReportDecoding.openAIUsage(JSONParser.parse(Array(time.utf8)), report: .openAIImages)
        }
    }
}
