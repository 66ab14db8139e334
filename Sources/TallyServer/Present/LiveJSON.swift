import TallyCore

/// The live API's messages (`GET /api/v1/live`), one JSON text frame each.
enum LiveJSON {
    /// `{"type":"usage_update","event":{…}}`: the event as `GET /api/v1/events/{id}` shows it.
    static func usageUpdate(_ stored: StoredEvent) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "usage_update")
        w.key("event")
        EventJSON.write(stored, into: &w)
        w.endObject()
        return w.text
    }

    /// `{"type":"metrics_update","metrics":{…}}`: today's totals (the organization's local day) at the top, the
    /// billing cycle's under `cycle` (what the overview's cards show).
    static func metricsUpdate(
        day: String, zone: String, now: Instant, today: UsageMetrics, cycleStart: Instant, cycle: UsageMetrics
    ) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "metrics_update")
        w.field("at", now.rfc3339)
        w.key("metrics")
        w.beginObject()
        w.field("day", day)
        w.field("time_zone", zone)
        today.write(into: &w)
        w.key("cycle")
        w.beginObject()
        w.field("from", cycleStart.rfc3339)
        cycle.write(into: &w)
        w.endObject()
        w.endObject()
        w.endObject()
        return w.text
    }
}
