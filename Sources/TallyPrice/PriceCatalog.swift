import TallyCore

/// The built-in prices: a reviewed data file (`prices/catalog.json`), embedded in the binary at build time.
public struct PriceCatalog: Sendable {
    public let entries: [PriceEntry]
    let index: ModelIndex

    public init(entries: [PriceEntry]) {
        self.entries = entries
        self.index = ModelIndex(entries)
    }

    /// The catalog compiled into this binary.
    public static let builtIn: PriceCatalog = {
        do {
            return PriceCatalog(entries: try CatalogFile.parse(Array(BuiltInCatalogData.json.utf8)))
        } catch {
            // The file is checked by a test and at build time by the same parser; reaching this is a build defect.
            fatalError("the built-in price catalog does not parse: \(error)")
        }
    }()

    /// The entry in force for this model at this instant, or nil: the model is unpriced.
    public func entry(model: String, at instant: Instant) -> (entry: PriceEntry, resolvedName: String)? {
        for name in ModelName.candidates(model) {
            if let entry = index.byName[name]?.first(where: { $0.isEffective(at: instant) }) {
                return (entry, name)
            }
        }
        return nil
    }

    public func entry(id: String) -> PriceEntry? { index.byID[id] }
}

struct ModelIndex: Sendable {
    var byName: [String: [PriceEntry]] = [:]
    var byID: [String: PriceEntry] = [:]

    init(_ entries: [PriceEntry]) {
        for entry in entries {
            byID[entry.id] = entry
            for name in Set([entry.model] + entry.aliases) { byName[name.lowercased(), default: []].append(entry) }
        }
    }
}
