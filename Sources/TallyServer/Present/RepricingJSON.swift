import TallyCore
import TallyServices

/// A re-pricing's result as the API answers it and `tally prices recompute` prints it.
public enum RepricingJSON {
    public static func json(_ r: RepricingResult) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("events", r.events)
        w.field("changed", r.changed)
        w.field("cost_before", r.costBefore.decimalString)
        w.field("cost_after", r.costAfter.decimalString)
        w.field("applied", r.applied)
        w.key("by_model")
        w.beginArray()
        for m in r.byModel {
            w.beginObject()
            w.field("provider", m.provider)
            w.field("model", m.model)
            w.field("events", m.events)
            w.field("changed", m.changed)
            w.field("cost_before", m.costBefore.decimalString)
            w.field("cost_after", m.costAfter.decimalString)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
