import TallyCore

/// A whole catalog file: its `revision` (the instant naming this edition) and its entries, as `prices/catalog.json`
/// and every update (`tally prices update`, `POST /api/v1/prices/catalog`, TALLY_PRICES_URL) give it. The entries are
/// read by `CatalogFile.parse`, so an update is held to the same rules as the built-in file.
public struct CatalogDocument: Sendable {
    public var revision: Instant
    public var entries: [PriceEntry]
    /// Each entry's JSON as written in the file, in the order of `entries`: what `CatalogDiff` compares.
    public var rawEntries: [JSONValue]

    public init(revision: Instant, entries: [PriceEntry], rawEntries: [JSONValue]) {
        self.revision = revision
        self.entries = entries
        self.rawEntries = rawEntries
    }

    public static func parse(_ bytes: [UInt8]) throws(CatalogFile.Problem) -> CatalogDocument {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            throw CatalogFile.Problem(description: "catalog: malformed JSON at byte \(error.offset): \(error.reason)")
        }
        guard case .object = root else { throw CatalogFile.Problem(description: "catalog: must be a JSON object") }
        // An update is compared by its revision, so a file without one cannot be placed before or after another.
        guard case .string(let text)? = root["revision"] else {
            throw CatalogFile.Problem(
                description: "revision: is required, an RFC 3339 UTC instant such as \"2026-12-03T12:00:00Z\"")
        }
        guard let revision = Instant(rfc3339: text), text.hasSuffix("Z") else {
            throw CatalogFile.Problem(
                description: "revision: must be an RFC 3339 UTC instant such as \"2026-12-03T12:00:00Z\"")
        }
        guard case .array(let raw)? = root["entries"] else {
            throw CatalogFile.Problem(description: "catalog: no \"entries\" array")
        }
        // An empty file would unprice every model at once: a mistake, never an update.
        guard !raw.isEmpty else { throw CatalogFile.Problem(description: "entries: must hold at least one entry") }
        let entries: [PriceEntry]
        do { entries = try CatalogFile.parse(bytes) } catch let problem as CatalogFile.Problem {
            throw named(problem, raw)
        } catch {
            throw CatalogFile.Problem(description: "catalog: \(error)")
        }
        return CatalogDocument(revision: revision, entries: entries, rawEntries: raw)
    }

    /// `entries[12].prices.input: …` says where; the entry's id (or model) says which, for a person reading it.
    static func named(_ problem: CatalogFile.Problem, _ raw: [JSONValue]) -> CatalogFile.Problem {
        let text = problem.description
        guard text.hasPrefix("entries["), let close = text.firstIndex(of: "]"),
            let index = Int(text[text.index(text.startIndex, offsetBy: 8)..<close]), raw.indices.contains(index),
            let colon = text.firstRange(of: ": ")
        else { return problem }
        let name: String
        switch (raw[index]["id"], raw[index]["model"]) {
        case (.string(let id)?, _): name = "entry \"\(id)\""
        case (_, .string(let model)?): name = "the entry for model \"\(model)\""
        default: return problem
        }
        return CatalogFile.Problem(
            description: text[..<colon.lowerBound] + ": " + name + ": " + text[colon.upperBound...])
    }

    /// The file compiled into this binary: the floor no update may go below.
    public static let builtIn: CatalogDocument = {
        do {
            return try parse(Array(BuiltInCatalogData.json.utf8))
        } catch {
            // The file is checked by a test and at build time by the same parser; reaching this is a build defect.
            fatalError("the built-in price catalog does not parse: \(error)")
        }
    }()
}

/// Where the catalog in force came from.
public enum CatalogOrigin: String, Sendable, Equatable {
    /// The file compiled into the binary.
    case builtIn = "built-in"
    /// A newer revision applied through `tally prices update --apply` or `POST /api/v1/prices/catalog`.
    case stored
    /// A newer revision fetched from TALLY_PRICES_URL.
    case url
}

/// The catalog this process prices with, and what is known of its edition.
public struct CatalogInForce: Sendable {
    public var catalog: PriceCatalog
    public var document: CatalogDocument
    public var origin: CatalogOrigin
    /// When the revision was stored (nil for the built-in one).
    public var appliedAt: Instant?
    public var appliedBy: String?
    /// SHA-256 of the document's bytes, hex (nil for the built-in one).
    public var sha256: String?

    public init(
        document: CatalogDocument, origin: CatalogOrigin, appliedAt: Instant? = nil, appliedBy: String? = nil,
        sha256: String? = nil
    ) {
        self.catalog = PriceCatalog(entries: document.entries)
        self.document = document
        self.origin = origin
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
        self.sha256 = sha256
    }

    public var revision: Instant { document.revision }

    /// Built once: stored events priced with an entry a newer revision dropped are explained with it.
    public static let builtIn: CatalogInForce = {
        var inForce = CatalogInForce(document: .builtIn, origin: .builtIn)
        inForce.catalog = .builtIn
        return inForce
    }()
}
