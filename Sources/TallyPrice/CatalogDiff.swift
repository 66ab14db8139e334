import TallyCore

/// What an update changes in the catalog, entry by entry (entries are matched by `id`): entries added, entries ended
/// (a `to` set where there was none, or the entry gone), and every other cell changed, old → new. Cells are the
/// leaves of each entry's JSON flattened to paths (`prices.input`, `tiers[0].service_tiers.flex.output`), so a field
/// this code has never heard of shows up like any other. Pure.
public struct CatalogDiff: Sendable, Equatable {
    public struct Added: Sendable, Equatable {
        public var entry: String
        public var provider: String?
        public var model: String
        public var from: CivilDate
    }

    public struct Ended: Sendable, Equatable {
        public var entry: String
        /// The end date the update gives; nil when the update drops the entry altogether.
        public var to: CivilDate?
    }

    public struct Cell: Sendable, Equatable {
        public var entry: String
        public var cell: String
        /// nil: the cell is absent (or null) on that side.
        public var old: String?
        public var new: String?
    }

    public var added: [Added] = []
    public var ended: [Ended] = []
    public var changed: [Cell] = []

    public var isEmpty: Bool { added.isEmpty && ended.isEmpty && changed.isEmpty }

    public init(added: [Added] = [], ended: [Ended] = [], changed: [Cell] = []) {
        self.added = added
        self.ended = ended
        self.changed = changed
    }

    /// `old` is the catalog in force, `new` the candidate; both in file order, results sorted by entry id.
    public init(from old: CatalogDocument, to new: CatalogDocument) {
        let before = Self.cellsByID(old)
        let after = Self.cellsByID(new)
        func text(_ leaf: Leaf?) -> String? { leaf?.text }
        for (entry, raw) in zip(new.entries, new.rawEntries).sorted(by: { $0.0.id < $1.0.id }) {
            guard let previous = before[entry.id] else {
                added.append(Added(entry: entry.id, provider: entry.provider, model: entry.model, from: entry.from))
                continue
            }
            let cells = Self.flatten(raw)
            var endedNow = false
            if previous["to"] == nil, let to = entry.to {
                ended.append(Ended(entry: entry.id, to: to))
                endedNow = true
            }
            for path in Set(previous.keys).union(cells.keys).sorted() where previous[path] != cells[path] {
                // An entry ended here is listed once, under `ended`, not again as its `to` cell.
                if endedNow && path == "to" { continue }
                changed.append(Cell(entry: entry.id, cell: path, old: text(previous[path]), new: text(cells[path])))
            }
        }
        for id in before.keys.sorted() where after[id] == nil { ended.append(Ended(entry: id, to: nil)) }
        ended.sort { $0.entry < $1.entry }
    }

    /// A cell's text as written, compared by its canonical form.
    struct Leaf: Equatable {
        var text: String
        var canonical: String
        static func == (a: Leaf, b: Leaf) -> Bool { a.canonical == b.canonical }
    }

    static func cellsByID(_ document: CatalogDocument) -> [String: [String: Leaf]] {
        var cells: [String: [String: Leaf]] = [:]
        for (entry, raw) in zip(document.entries, document.rawEntries) { cells[entry.id] = flatten(raw) }
        return cells
    }

    /// The leaves of a JSON value by path. Null leaves are left out (absent and null mean the same in the format),
    /// and a decimal string is written in its shortest form, so `"2.50"` and `"2.5"` are the same cell. Model names
    /// and aliases are compared as the parser does, case-insensitively.
    static func flatten(_ value: JSONValue) -> [String: Leaf] {
        var out: [String: Leaf] = [:]
        func walk(_ v: JSONValue, _ path: String) {
            switch v {
            case .null: return
            case .bool(let b): out[path] = Leaf(text: b ? "true" : "false", canonical: b ? "true" : "false")
            case .number(let n): out[path] = Leaf(text: n, canonical: USD(literal: n)?.decimalString ?? n)
            case .string(let s): out[path] = Leaf(text: s, canonical: canonical(s, at: path))
            case .array(let items):
                for (i, item) in items.enumerated() { walk(item, "\(path)[\(i)]") }
            case .object(let members):
                for (key, member) in members { walk(member, path.isEmpty ? key : "\(path).\(key)") }
            }
        }
        walk(value, "")
        return out
    }

    static func canonical(_ text: String, at path: String) -> String {
        if path == "model" || path.hasPrefix("aliases[") || path == "provider" { return text.lowercased() }
        let isDecimal = !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
        if isDecimal, let usd = USD(decimal: text) { return usd.decimalString }
        return text
    }
}
