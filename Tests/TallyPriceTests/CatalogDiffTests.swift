import TallyCore
import Testing

@testable import TallyPrice

/// A catalog file as a whole (revision + entries) and the diff of two, with hand-written expected lists.
@Suite struct CatalogDiffTests {
    static func document(_ text: String) throws(CatalogFile.Problem) -> CatalogDocument {
        try CatalogDocument.parse(Array(text.utf8))
    }

    static let base = """
        {"format": 1, "revision": "2026-12-01T00:00:00Z", "entries": [
          {"id": "openai:m1:2026-01-01", "provider": "openai", "model": "m1", "from": "2026-01-01", "to": null,
           "source": "https://example.com/p", "prices": {"input": "1.00", "output": "2.00"}},
          {"id": "openai:m2:2026-01-01", "provider": "openai", "model": "m2", "from": "2026-01-01",
           "source": "https://example.com/p", "prices": {"input": "3", "output": "4"}, "batch": "0.5"},
          {"id": "anthropic:c1:2026-01-01", "provider": "anthropic", "model": "c1", "from": "2026-01-01",
           "source": "https://example.com/a", "prices": {"input": "5", "output": "6"}}
        ]}
        """

    /// m1: output and a new cached rate and a field this code does not know; m2 ended and its batch gone; c1 dropped;
    /// g1 new. The input rate written "1.0" instead of "1.00" is the same cell.
    static let candidate = """
        {"format": 2, "revision": "2026-12-02T00:00:00Z", "entries": [
          {"id": "google:g1:2026-12-01", "provider": "google", "model": "g1", "from": "2026-12-01",
           "source": "https://example.com/g", "prices": {"input": "0.10", "output": "0.40"}},
          {"prices": {"output": "2.50", "input": "1.0", "cached_input": "0.10"}, "id": "openai:m1:2026-01-01",
           "provider": "openai", "model": "M1", "from": "2026-01-01", "source": "https://example.com/p",
           "service_tier_multipliers": {"flex": "0.5"}},
          {"id": "openai:m2:2026-01-01", "provider": "openai", "model": "m2", "from": "2026-01-01", "to": "2026-12-15",
           "source": "https://example.com/p", "prices": {"input": "3", "output": "4"}}
        ]}
        """

    @Test func listsAddedEndedAndChangedCellsExactly() throws {
        let diff = CatalogDiff(from: try Self.document(Self.base), to: try Self.document(Self.candidate))
        #expect(
            diff.added == [
                .init(
                    entry: "google:g1:2026-12-01", provider: "google", model: "g1",
                    from: CivilDate(parsing: "2026-12-01")!)
            ])
        #expect(
            diff.ended == [
                .init(entry: "anthropic:c1:2026-01-01", to: nil),
                .init(entry: "openai:m2:2026-01-01", to: CivilDate(parsing: "2026-12-15")!),
            ])
        #expect(
            diff.changed == [
                .init(entry: "openai:m1:2026-01-01", cell: "prices.cached_input", old: nil, new: "0.10"),
                .init(entry: "openai:m1:2026-01-01", cell: "prices.output", old: "2.00", new: "2.50"),
                .init(entry: "openai:m1:2026-01-01", cell: "service_tier_multipliers.flex", old: nil, new: "0.5"),
                .init(entry: "openai:m2:2026-01-01", cell: "batch", old: "0.5", new: nil),
            ])
    }

    /// Key order, decimal spelling, model case and an explicit null change nothing.
    @Test func sameContentWrittenDifferentlyIsNoChange() throws {
        let rewritten = """
            {"revision": "2026-12-05T00:00:00Z", "entries": [
              {"prices": {"output": "2", "input": "1.000000000"}, "model": "M1", "provider": "openai",
               "from": "2026-01-01", "id": "openai:m1:2026-01-01", "source": "https://example.com/p", "note": null},
              {"id": "openai:m2:2026-01-01", "provider": "OpenAI", "model": "m2", "from": "2026-01-01",
               "source": "https://example.com/p", "prices": {"input": "3.0", "output": "4.00"}, "batch": "0.50"},
              {"id": "anthropic:c1:2026-01-01", "provider": "anthropic", "model": "c1", "from": "2026-01-01",
               "source": "https://example.com/a", "prices": {"input": "5", "output": "6"}}
            ]}
            """
        let diff = CatalogDiff(from: try Self.document(Self.base), to: try Self.document(rewritten))
        #expect(diff.isEmpty, "\(diff)")
    }

    /// A later `to` moved again is a changed cell, not a second ending; tiers are compared cell by cell.
    @Test func movedEndAndTierCellsAreChangedCells() throws {
        let old = """
            {"revision": "2026-12-01T00:00:00Z", "entries": [{"id": "x", "provider": "google", "model": "x",
              "from": "2026-01-01", "to": "2026-06-01", "source": "s", "prices": {"input": "1", "output": "2"},
              "tiers": [{"above_input_tokens": 200000, "prices": {"input": "2", "output": "4"}}]}]}
            """
        let new = """
            {"revision": "2026-12-02T00:00:00Z", "entries": [{"id": "x", "provider": "google", "model": "x",
              "from": "2026-01-01", "to": "2026-07-01", "source": "s", "prices": {"input": "1", "output": "2"},
              "tiers": [{"above_input_tokens": 272000, "prices": {"input": "2", "output": "4.5"}}]}]}
            """
        let diff = CatalogDiff(from: try Self.document(old), to: try Self.document(new))
        #expect(diff.added.isEmpty && diff.ended.isEmpty)
        #expect(
            diff.changed == [
                .init(entry: "x", cell: "tiers[0].above_input_tokens", old: "200000", new: "272000"),
                .init(entry: "x", cell: "tiers[0].prices.output", old: "4", new: "4.5"),
                .init(entry: "x", cell: "to", old: "2026-06-01", new: "2026-07-01"),
            ])
    }

    @Test func revisionIsRequiredAndUTC() throws {
        #expect(throws: CatalogFile.Problem.self) { try Self.document(#"{"entries": []}"#) }
        do {
            _ = try Self.document(#"{"revision": "2026-12-01T01:00:00+01:00", "entries": []}"#)
            Issue.record("an offset revision was accepted")
        } catch {
            #expect(error.description == #"revision: must be an RFC 3339 UTC instant such as "2026-12-03T12:00:00Z""#)
        }
        do {
            _ = try Self.document(#"{"revision": "2026-12-01T00:00:00Z", "entries": []}"#)
            Issue.record("an empty catalog was accepted")
        } catch {
            #expect(error.description == "entries: must hold at least one entry")
        }
    }

    /// A problem names where (`entries[1].prices.input`) and which entry (its id, else its model).
    @Test func problemsNameTheEntryAndTheField() throws {
        let bad = """
            {"revision": "2026-12-01T00:00:00Z", "entries": [
              {"id": "a", "provider": "openai", "model": "a", "from": "2026-01-01", "source": "s", "prices": {"input": "1"}},
              {"id": "openai:broken:2026-01-01", "provider": "openai", "model": "broken", "from": "2026-01-01",
               "source": "s", "prices": {"input": "one dollar"}}
            ]}
            """
        do {
            _ = try Self.document(bad)
            Issue.record("a malformed entry was accepted")
        } catch {
            #expect(
                error.description
                    == #"entries[1].prices.input: entry "openai:broken:2026-01-01": must be a decimal string of USD per 1M tokens, such as "2.50""#
            )
        }
    }

    /// The built-in file carries its revision, and it is the floor a swapped-in catalog is compared with.
    @Test func builtInHasARevisionAndPricerSwapsAtomically() throws {
        #expect(CatalogDocument.builtIn.revision == Instant(rfc3339: "2026-12-03T12:00:00Z"))
        #expect(CatalogDocument.builtIn.entries.count == PriceCatalog.builtIn.entries.count)
        let pricer = CatalogPricer()
        #expect(pricer.inForce.origin == .builtIn && pricer.inForce.revision == CatalogDocument.builtIn.revision)
        var newer = try Self.document(Self.candidate)
        // Only a later revision than the one in force replaces it when asked so (2026-12-02 is before the built-in).
        #expect(!pricer.replaceCatalog(ifNewer: CatalogInForce(document: newer, origin: .stored)))
        #expect(pricer.inForce.origin == .builtIn)
        newer.revision = Instant(rfc3339: "2030-01-01T00:00:00Z")!
        #expect(pricer.replaceCatalog(ifNewer: CatalogInForce(document: newer, origin: .stored)))
        #expect(pricer.catalog.entries.map(\.id) == newer.entries.map(\.id))
        var event = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: "2026-12-02T10:00:00Z")!, provider: "google", model: "g1")
        event.usage.inputTokens = 1_000_000
        event.usage.outputTokens = 1_000_000
        // 1M × $0.10 + 1M × $0.40, from the swapped-in catalog.
        #expect(
            pricer.quote(event, organizationID: "o")
                == PriceQuote(cost: USD(decimal: "0.5")!, priceID: "google:g1:2026-12-01"))
    }
}
