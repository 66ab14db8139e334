import TallyCore

/// The built-in prices: a reviewed data file (`prices/catalog.json`), embedded in the binary at build time.
public struct PriceCatalog: Sendable {
    public let entries: [PriceEntry]
    let index: ModelIndex

    public init(entries: [PriceEntry]) {
        self.entries = entries
        self.index = ModelIndex(entries)
    }

    /// The catalog compiled into this binary (the one parse of the embedded file is `CatalogDocument.builtIn`'s).
    public static let builtIn = PriceCatalog(entries: CatalogDocument.builtIn.entries)

    /// The entry in force for this model at this instant, or nil: the model is unpriced. A dated alias counts only
    /// on its days, so a moving alias (`gemini-flash-latest`) prices each day as the model it then pointed to.
    public func entry(model: String, at instant: Instant) -> (entry: PriceEntry, resolvedName: String)? {
        for name in ModelName.candidates(model) {
            if let named = index.byName[name]?.first(where: { $0.isValid(at: instant) }) {
                return (named.entry, name)
            }
        }
        return nil
    }

    public func entry(id: String) -> PriceEntry? { index.byID[id] }
}

struct ModelIndex: Sendable {
    /// An entry reached by one of its names: the model (no alias) or an alias, which may be dated.
    struct Named: Sendable {
        var entry: PriceEntry
        var alias: PriceEntry.Alias?
        func isValid(at instant: Instant) -> Bool {
            entry.isEffective(at: instant) && (alias?.isValid(at: instant) ?? true)
        }
    }

    var byName: [String: [Named]] = [:]
    var byID: [String: PriceEntry] = [:]

    init(_ entries: [PriceEntry]) {
        for entry in entries {
            byID[entry.id] = entry
            byName[entry.model.lowercased(), default: []].append(Named(entry: entry, alias: nil))
            for alias in entry.aliases where alias.name.lowercased() != entry.model.lowercased() {
                byName[alias.name.lowercased(), default: []].append(Named(entry: entry, alias: alias))
            }
        }
    }
}
