import TallyCore
import TallyPrice
import TallyServices
import Testing

@testable import TallyWeb

/// Issue 21's pages: the event page shows captured bodies as text (hostile HTML escaped, inside `<pre>`) with the
/// flags; the playground names connections for admins only and carries no token, only the session's CSRF meta.
@Suite struct ContentPagesTests {
    @Test func capturedContentIsTextAndFlagsAreListed() throws {
        var stored = Sample.event("evt-c")
        stored.event.outcome.safetyFlags = ["pii.email", "keyword:<b>x</b>"]
        stored.event.outcome.qualityFlags = ["truncated"]
        let content = OpenedContent(
            request: #"{"messages":[{"content":"<script>alert(1)</script> [REDACTED:EMAIL]"}]}"#,
            response: "<img src=x onerror=alert(2)>", requestTruncated: false, responseTruncated: true,
            mode: .redacted, expiresAt: Instant(rfc3339: "2026-12-01T00:00:00Z")!)
        let html = EventsPage.renderDetail(
            Sample.page(section: .events), stored, breakdown: CatalogPricer().breakdown(stored), content: content)
        try Snapshot.check(html, "event-captured")
        #expect(!html.contains("<script>alert(1)") && !html.contains("<img src=x"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && html.contains(#"id="captured-response""#))
        #expect(
            html.contains("pii.email, keyword:&lt;b&gt;x&lt;/b&gt;") && html.contains("truncated at the capture limit"))
        let plain = EventsPage.renderDetail(
            Sample.page(section: .events), stored, breakdown: CatalogPricer().breakdown(stored))
        #expect(!plain.contains("captured-content"))
    }

    @Test func thePlaygroundNamesConnectionsForAdminsAndHoldsNoToken() throws {
        let model = PlaygroundPage.Model(
            connections: [PlaygroundPage.Connection(id: "conn_1", name: "<i>main</i>", provider: "openai")],
            projects: ["web", "<script>"], catalogModels: ["openai": ["gpt-4o", "gpt-4o-mini"]], maySend: true)
        let html = PlaygroundPage.render(Sample.page(.member, section: .playground), model)
        try Snapshot.check(html, "playground")
        #expect(html.contains(#"id="playground-form""#) && html.contains(#"<option value="gpt-4o-mini""#))
        #expect(!html.contains("<i>main</i>") && !html.contains("<option value=\"<script>") && !html.contains("tly_"))
        #expect(html.contains("&lt;script&gt;") && html.contains("&lt;i&gt;main&lt;/i&gt;"))
        let viewer = PlaygroundPage.Model(
            connections: model.connections, projects: model.projects, catalogModels: [:], maySend: false)
        let read = PlaygroundPage.render(Sample.page(.viewer, section: .playground), viewer)
        #expect(!read.contains(#"id="playground-form""#) && read.contains("Viewers cannot send calls"))
    }
}
