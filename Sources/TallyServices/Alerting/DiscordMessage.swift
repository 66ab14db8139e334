import TallyCore

/// A Discord webhook message: one embed with the title, the summary, the figures as inline fields, the explorer link
/// as the embed's URL, a colour by how far the budget is spent and the estimate note as footer. `allowed_mentions`
/// is empty, so a name like "@everyone" pings nobody; Discord renders markdown (and masked links `[x](url)`) in the
/// content, the description and field values, so their markdown characters are backslash-escaped.
public enum DiscordMessage {
    public static func body(_ m: AlertMessage) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("content", SlackMessage.clipped(escaped(m.title), 2000))
        w.key("allowed_mentions")
        w.beginObject()
        w.key("parse")
        w.beginArray()
        w.endArray()
        w.endObject()
        w.key("embeds")
        w.beginArray()
        w.beginObject()
        w.field("title", SlackMessage.clipped(m.source, 256))
        w.field("description", SlackMessage.clipped(escaped(m.figures.summary), 4096))
        w.field("url", m.explorerURL)
        let percent = m.barPercent ?? 0
        w.field("color", percent >= 100 ? 0xC0392B : percent >= 80 ? 0xE67E22 : 0x27AE60)
        w.field("timestamp", m.occurredAt.rfc3339)
        w.key("fields")
        w.beginArray()
        for fact in m.facts.prefix(25) {
            w.beginObject()
            w.field("name", SlackMessage.clipped(fact.label, 256))
            w.field("value", SlackMessage.clipped(fact.value.isEmpty ? "-" : escaped(fact.value), 1024))
            w.field("inline", true)
            w.endObject()
        }
        w.endArray()
        w.key("footer")
        w.beginObject()
        w.field("text", AlertMessage.estimateNote)
        w.endObject()
        w.endObject()
        w.endArray()
        w.endObject()
        return w.text
    }

    /// Discord's markdown characters, each shown as itself after a backslash.
    static let markdown: Set<Character> = ["\\", "*", "_", "~", "`", "|", "[", "]", "(", ")", "<", ">", "#", "-"]

    static func escaped(_ s: String) -> String {
        var out = ""
        for c in s {
            if markdown.contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
