import Foundation
import TallyCore
import TallyDocuments
import XCTest

/// The FOCUS export's pure part: the exact cost split, the cells, and (with TALLY_FOCUS_VALIDATOR set to the python
/// of a venv made from focus-requirements.txt) the pinned focus-validator over ~50 rows.
final class FocusCSVTests: XCTestCase {
    // MARK: - Allocation

    func testAllocateExamples() {
        func nanos(_ total: Int64, _ weights: [Int64]) -> [Int64] {
            FocusCSV.allocate(USD(nanos: total), weights: weights.map { USD(nanos: $0) }).map(\.nanos)
        }
        XCTAssertEqual(nanos(10, [1, 1, 1]), [4, 3, 3])
        XCTAssertEqual(nanos(100, [25, 75]), [25, 75])
        XCTAssertEqual(nanos(101, [25, 75]), [25, 76])  // .25 vs .75: the larger remainder gets the nano
        XCTAssertEqual(nanos(2, [1, 1, 1]), [1, 1, 0])  // ties: the earlier lines
        XCTAssertEqual(nanos(7, [0, 0, 0]), [7, 0, 0])  // all zero: the first line
        XCTAssertEqual(nanos(0, [3, 4]), [0, 0])
        XCTAssertEqual(nanos(5, []), [])
        XCTAssertEqual(nanos(7, [-5, 10]), [0, 7])  // a negative weight among positive ones counts as zero
        XCTAssertEqual(nanos(-8, [-1, -3]), [-2, -6])  // all negative: their magnitudes
        XCTAssertEqual(nanos(-10, [1, 1, 1]), [-4, -3, -3])
        XCTAssertEqual(nanos(Int64.min, [1, 1]), [Int64.min / 2, Int64.min / 2])
        XCTAssertEqual(nanos(Int64.max, [Int64.max, Int64.max]), [Int64.max / 2 + 1, Int64.max / 2])
        XCTAssertEqual(nanos(Int64.max, [Int64.min, Int64.max]), [0, Int64.max])
        XCTAssertEqual(nanos(Int64.min, [Int64.min, Int64.min]), [Int64.min / 2, Int64.min / 2])
        XCTAssertEqual(nanos(1, [Int64.max, 1]), [1, 0])
    }

    /// Property: for thousands of seeded random groups (huge, tiny, zero and negative values), the parts add up to
    /// the total exactly, each is its exact share rounded down or up by one nano, and a zero weight gets nothing.
    func testAllocatePropertiesSeeded() {
        var rng = SplitMix64(seed: 0x7A11_F0C5)
        func value(_ rng: inout SplitMix64) -> Int64 {
            switch rng.next() % 8 {
            case 0: 0
            case 1: Int64.max - Int64(rng.next() % 3)
            case 2: Int64.min + Int64(rng.next() % 3)
            case 3: -Int64(rng.next() % 1_000_000)
            case 4: Int64(rng.next() % 10)
            case 5: Int64(bitPattern: rng.next())
            default: Int64(rng.next() % 50_000_000_000)  // up to $50
            }
        }
        for _ in 0..<5000 {
            let count = Int(rng.next() % 24) + 1
            let weights = (0..<count).map { _ in USD(nanos: value(&rng)) }
            let total = USD(nanos: value(&rng))
            let parts = FocusCSV.allocate(total, weights: weights)
            XCTAssertEqual(parts.count, count)
            let sum = parts.reduce(Int128(0)) { $0 + Int128($1.nanos) }
            XCTAssertEqual(sum, Int128(total.nanos), "total \(total.nanos) weights \(weights.map(\.nanos))")

            // The effective weights, as documented.
            let anyPositive = weights.contains { $0.nanos > 0 }
            let w = weights.map { anyPositive ? Int128(max($0.nanos, 0)) : abs(Int128($0.nanos)) }
            let wSum = w.reduce(0, +)
            let sign: Int128 = total.nanos < 0 ? -1 : 1
            let amount = abs(Int128(total.nanos))
            for (i, part) in parts.enumerated() {
                let magnitude = Int128(part.nanos) * sign
                XCTAssertGreaterThanOrEqual(magnitude, 0)
                if wSum == 0 {
                    XCTAssertEqual(magnitude, i == 0 ? amount : 0)
                } else {
                    let share = amount * w[i] / wSum
                    XCTAssertTrue(magnitude == share || magnitude == share + 1, "part \(i): \(magnitude) vs \(share)")
                    if w[i] == 0 { XCTAssertEqual(magnitude, 0) }
                }
            }
        }
    }

    /// The use case: stored per-event costs (rounded per event) re-split over a group's lines by their re-priced
    /// costs, exactly.
    func testAllocateStoredCostAcrossLines() {
        let computed = [USD(nanos: 1_250_001), USD(nanos: 3_749_999), USD(nanos: 0), USD(nanos: 10)]
        let stored = USD(nanos: 5_000_013)
        let parts = FocusCSV.allocate(stored, weights: computed)
        XCTAssertEqual(parts.reduce(USD.zero, +), stored)
        XCTAssertEqual(parts[2], .zero)
    }

    // MARK: - Rows

    func testHeaderAndRowsHaveTheSameColumns() throws {
        XCTAssertTrue(FocusCSV.header.hasSuffix("\r\n"))
        let header = try XCTUnwrap(parseCSV(FocusCSV.header).first)
        XCTAssertEqual(header, FocusCSV.columns)
        XCTAssertEqual(Set(header).count, header.count)
        for charge in sampleCharges() {
            let line = FocusCSV.row(charge)
            XCTAssertTrue(line.hasSuffix("\r\n"))
            let rows = parseCSV(line)
            XCTAssertEqual(rows.count, 1, line)
            XCTAssertEqual(rows.first?.count, header.count, line)
        }
    }

    func testPricedTokenRow() throws {
        let charge = charge(
            provider: "openai", projectID: "proj_1", projectName: "Main", model: "gpt-4o",
            priceID: "openai:gpt-4o:2024-08-06",
            tokenClass: "cached_input", quantity: 1_234_567, price: "1.250", cost: USD(nanos: 1_543_209),
            tags: [("project", "Main"), ("environment", "prod")])
        let r = try cells(FocusCSV.row(charge))
        XCTAssertEqual(r["BilledCost"], "0.001543209")
        XCTAssertEqual(r["EffectiveCost"], "0.001543209")
        XCTAssertEqual(r["ListCost"], "0.001543209")
        XCTAssertEqual(r["ContractedCost"], "0.001543209")
        XCTAssertEqual(r["BillingCurrency"], "USD")
        XCTAssertEqual(r["ChargePeriodStart"], "2026-11-20T05:00:00Z")
        XCTAssertEqual(r["ChargePeriodEnd"], "2026-11-21T05:00:00Z")
        XCTAssertEqual(r["BillingPeriodStart"], "2026-11-01T04:00:00Z")
        XCTAssertEqual(r["BillingPeriodEnd"], "2026-12-01T05:00:00Z")
        XCTAssertEqual(r["ChargeCategory"], "Usage")
        XCTAssertEqual(r["ChargeClass"], "")
        XCTAssertEqual(r["ChargeFrequency"], "Usage-Based")
        XCTAssertEqual(r["ConsumedQuantity"], "1234567")
        XCTAssertEqual(r["ConsumedUnit"], "Tokens")
        XCTAssertEqual(r["PricingQuantity"], "1.234567")
        XCTAssertEqual(r["PricingUnit"], "1000000 Tokens")
        XCTAssertEqual(r["ListUnitPrice"], "1.25")
        XCTAssertEqual(r["ContractedUnitPrice"], "1.25")
        XCTAssertEqual(r["PricingCategory"], "Standard")
        XCTAssertEqual(r["ProviderName"], "OpenAI")
        XCTAssertEqual(r["PublisherName"], "OpenAI")
        XCTAssertEqual(r["InvoiceIssuerName"], "OpenAI")
        XCTAssertEqual(r["ServiceName"], "OpenAI API")
        XCTAssertEqual(r["ServiceCategory"], "AI and Machine Learning")
        XCTAssertEqual(r["ServiceSubcategory"], "Generative AI")
        XCTAssertEqual(r["BillingAccountId"], "openai")
        XCTAssertEqual(r["BillingAccountName"], "OpenAI")
        XCTAssertEqual(r["ResourceId"], "proj_1")
        XCTAssertEqual(r["ResourceName"], "Main")
        XCTAssertEqual(r["ResourceType"], "Project")
        XCTAssertEqual(r["SubAccountId"], "proj_1")
        XCTAssertEqual(r["SubAccountName"], "Main")
        XCTAssertEqual(r["SkuId"], "openai/gpt-4o/cached_input")
        XCTAssertEqual(r["SkuPriceId"], "openai:gpt-4o:2024-08-06/cached_input")
        XCTAssertEqual(r["ChargeDescription"], "OpenAI gpt-4o cached input tokens, 1.25 USD per 1M tokens")
        XCTAssertEqual(r["Tags"], #"{"environment":"prod","project":"Main"}"#)
        XCTAssertEqual(r["x_CostSource"], "tally_estimate")
        XCTAssertEqual(r["x_Model"], "gpt-4o")
        XCTAssertEqual(r["x_PriceEntryId"], "openai:gpt-4o:2024-08-06")
        XCTAssertEqual(r["x_PriceEntryFrom"], "2024-08-06")
        XCTAssertEqual(r["x_ProjectId"], "proj_1")
        XCTAssertEqual(r["x_ProjectName"], "Main")
        XCTAssertEqual(r["x_Provider"], "openai")
        XCTAssertEqual(r["x_TokenClass"], "cached_input")
        XCTAssertEqual(r["x_Unpriced"], "false")
    }

    func testUnpricedRequestAndOtherProviderRows() throws {
        let unpriced = try cells(
            FocusCSV.row(
                charge(
                    provider: "google", model: "gemini-4-neon", priceID: nil, tokenClass: "output", quantity: 42,
                    price: nil, cost: .zero, tags: [])))
        XCTAssertEqual(unpriced["BilledCost"], "0")
        XCTAssertEqual(unpriced["ListUnitPrice"], "")
        XCTAssertEqual(unpriced["ContractedUnitPrice"], "")
        XCTAssertEqual(unpriced["SkuPriceId"], "")
        XCTAssertEqual(unpriced["x_PriceEntryId"], "")
        XCTAssertEqual(unpriced["x_Unpriced"], "true")
        XCTAssertEqual(unpriced["Tags"], "")
        XCTAssertEqual(unpriced["ServiceName"], "Gemini API")
        XCTAssertEqual(unpriced["ProviderName"], "Google")
        XCTAssertEqual(unpriced["PricingQuantity"], "0.000042")
        XCTAssertEqual(unpriced["ChargeDescription"], "Google gemini-4-neon output tokens, not priced by Tally")

        // A price entry whose price is not an exact decimal is written as unpriced, never as a non-number.
        let malformed = try cells(FocusCSV.row(charge(price: "=1+1")))
        XCTAssertEqual(malformed["ListUnitPrice"], "")
        XCTAssertEqual(malformed["x_Unpriced"], "true")

        let request = try cells(
            FocusCSV.row(
                charge(
                    provider: "anthropic", model: "claude-sonnet-4-5", priceID: "anthropic:web-search:2025-05-07",
                    tokenClass: "request", quantity: 3, price: "0.010", cost: USD(nanos: 30_000_000))))
        XCTAssertEqual(request["PricingUnit"], "Requests")
        XCTAssertEqual(request["ConsumedUnit"], "Requests")
        XCTAssertEqual(request["PricingQuantity"], "3")
        XCTAssertEqual(request["ConsumedQuantity"], "3")
        XCTAssertEqual(request["ListUnitPrice"], "0.01")
        XCTAssertEqual(request["ServiceName"], "Anthropic API")
        XCTAssertEqual(request["ChargeDescription"], "Anthropic claude-sonnet-4-5 requests, 0.01 USD per request")

        let other = try cells(
            FocusCSV.row(charge(provider: "mistral", billingAccountID: "acct-9", billingAccountName: "Ops")))
        XCTAssertEqual(other["ProviderName"], "mistral")
        XCTAssertEqual(other["ServiceName"], "mistral API")
        XCTAssertEqual(other["BillingAccountId"], "acct-9")
        XCTAssertEqual(other["BillingAccountName"], "Ops")
    }

    func testQuotingRoundTrips() throws {
        let names = [
            "a,b", "say \"hi\"", "two\r\nlines", "line\nfeed", "cr\ronly", "plain", "ünïcödé 東京 🚀", "trailing,", "\"",
            "", " spaced ",
        ]
        for name in names {
            let line = FocusCSV.row(charge(projectName: name, model: "m,\"1\""))
            let rows = parseCSV(line)
            XCTAssertEqual(rows.count, 1, "one record for \(name.debugDescription): \(line.debugDescription)")
            let r = try cells(line)
            XCTAssertEqual(r["SubAccountName"], name)
            XCTAssertEqual(r["x_Model"], "m,\"1\"")
        }
        // A CR or LF inside a value is always inside quotes (one CRLF, at the end, outside them).
        let line = FocusCSV.row(charge(projectName: "two\r\nlines"))
        XCTAssertTrue(line.contains("\"two\r\nlines\""))
    }

    func testFormulaInjectionIsNeutralisedButNumbersStayNumbers() throws {
        for start in ["=", "+", "-", "@", "\t", "\r"] {
            let name = start + "HYPERLINK(\"http://x\")"
            let r = try cells(
                FocusCSV.row(charge(projectID: name, projectName: name, model: name, tags: [("k", name)])))
            XCTAssertEqual(r["SubAccountName"], "'" + name)
            XCTAssertEqual(r["ResourceId"], "'" + name)
            XCTAssertEqual(r["x_Model"], "'" + name)
            XCTAssertTrue(r["SkuId"]!.hasPrefix("openai/"))
            XCTAssertTrue(r["Tags"]!.hasPrefix("{"))
            XCTAssertTrue(r["ChargeDescription"]!.hasPrefix("OpenAI "))
        }
        // Negative numbers (a refund group) are never prefixed.
        let r = try cells(FocusCSV.row(charge(quantity: -1_500_000, cost: USD(nanos: -2_500_000_000))))
        XCTAssertEqual(r["BilledCost"], "-2.5")
        XCTAssertEqual(r["EffectiveCost"], "-2.5")
        XCTAssertEqual(r["ConsumedQuantity"], "-1500000")
        XCTAssertEqual(r["PricingQuantity"], "-1.5")
        // No cell of any row starts with a formula character unless it is a number.
        let numeric: Set<String> = [
            "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "PricingQuantity",
            "ListUnitPrice", "ContractedUnitPrice",
        ]
        for charge in sampleCharges() {
            for (column, value) in try cells(FocusCSV.row(charge)) where !numeric.contains(column) {
                if let first = value.unicodeScalars.first {
                    XCTAssertFalse(
                        ["=", "+", "-", "@", "\t", "\r"].contains(first), "\(column): \(value.debugDescription)")
                }
            }
        }
    }

    func testTagsAreASortedJSONObject() throws {
        let tags: [(String, String)] = [
            ("zeta", "1"), ("alpha", "a\"b\\c"), ("ctl", "\u{01}\t\n"), ("alpha", "ignored"), ("Émoji", "🚀"),
        ]
        let r = try cells(FocusCSV.row(charge(tags: tags)))
        let json = try XCTUnwrap(r["Tags"])
        XCTAssertEqual(json, #"{"alpha":"a\"b\\c","ctl":"\u0001\t\n","zeta":"1","Émoji":"🚀"}"#)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
        XCTAssertEqual(object, ["alpha": "a\"b\\c", "ctl": "\u{01}\t\n", "zeta": "1", "Émoji": "🚀"])
    }

    func testNumbersAndDatesAreExact() throws {
        func pricingQuantity(_ tokens: Int64) throws -> String? {
            try cells(FocusCSV.row(charge(quantity: tokens)))["PricingQuantity"]
        }
        XCTAssertEqual(try pricingQuantity(0), "0")
        XCTAssertEqual(try pricingQuantity(1), "0.000001")
        XCTAssertEqual(try pricingQuantity(1_000_000), "1")
        XCTAssertEqual(try pricingQuantity(1_000_010), "1.00001")
        XCTAssertEqual(try pricingQuantity(Int64.max), "9223372036854.775807")
        XCTAssertEqual(try pricingQuantity(Int64.min), "-9223372036854.775808")
        func listPrice(_ text: String) throws -> String? {
            try cells(FocusCSV.row(charge(price: text)))["ListUnitPrice"]
        }
        XCTAssertEqual(try listPrice("2.50"), "2.5")
        XCTAssertEqual(try listPrice("0.000"), "0")
        XCTAssertEqual(try listPrice("0.000000001"), "0.000000001")
        XCTAssertEqual(try listPrice("15"), "15")
        for bad in ["-1", "1e-3", "abc", "", "1.", ".5", "+2", "1,5", "0.0000000001"] {
            XCTAssertEqual(try listPrice(bad), "", bad)
        }
        XCTAssertEqual(
            try cells(FocusCSV.row(charge(cost: USD(nanos: Int64.min))))["BilledCost"], "-9223372036.854775808")
        // Date-times: whole seconds, Z; a sub-second instant is cut to its second.
        let odd = TimeRange(from: Instant(microseconds: -1), to: Instant(microseconds: 1_796_000_000_999_999))
        var c = charge()
        c.chargePeriod = odd
        let r = try cells(FocusCSV.row(c))
        XCTAssertEqual(r["ChargePeriodStart"], "1969-12-31T23:59:59Z")
        XCTAssertEqual(r["ChargePeriodEnd"], "2026-11-30T00:53:20Z")
    }

    // MARK: - The pinned focus-validator

    /// Writes ~50 charges as a FOCUS file and runs the pinned focus-validator over it through the helper
    /// (e2e/focus_check.py); fails if it rejects the file. Also checks that the helper does reject a broken file.
    /// Skipped unless TALLY_FOCUS_VALIDATOR names the validator venv's python.
    func testPinnedFocusValidatorAcceptsTheExport() throws {
        guard let python = ProcessInfo.processInfo.environment["TALLY_FOCUS_VALIDATOR"], !python.isEmpty else {
            throw XCTSkip("TALLY_FOCUS_VALIDATOR is not set (the python of a venv made from focus-requirements.txt)")
        }
        let helper = try XCTUnwrap(Self.helperPath(), "focus_check.py not found")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tally-focus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let charges = sampleCharges()
        XCTAssertGreaterThanOrEqual(charges.count, 50)
        let good = directory.appendingPathComponent("tally-focus.csv")
        try Data((FocusCSV.header + charges.map(FocusCSV.row).joined()).utf8).write(to: good)
        let (status, report) = try run(python, [helper, good.path])
        XCTAssertEqual(status, 0, "focus-validator rejected the export:\n\(report)")
        XCTAssertTrue(report.contains("FOCUS check passed"), report)

        // The check is not vacuous: a file with a bad date, currency and category is refused.
        var broken = FocusCSV.row(charge())
        broken = broken.replacingOccurrences(of: "2026-11-20T05:00:00Z", with: "2026-11-20 05:00")
        broken = broken.replacingOccurrences(of: ",USD,", with: ",XYZ,")
        broken = broken.replacingOccurrences(of: ",Usage,", with: ",Consumption,")
        let bad = directory.appendingPathComponent("broken.csv")
        try Data((FocusCSV.header + broken).utf8).write(to: bad)
        let (badStatus, badReport) = try run(python, [helper, bad.path])
        XCTAssertNotEqual(badStatus, 0, badReport)
        XCTAssertTrue(badReport.contains("BillingCurrency_IsCurrencyCode"), badReport)
        XCTAssertTrue(badReport.contains("ChargePeriodStart"), badReport)
        XCTAssertTrue(badReport.contains("ChargeCategory"), badReport)
    }

    /// TALLY_FOCUS_CHECK, else e2e/focus_check.py (the main repository) or check_focus.py (the standalone package)
    /// in a folder above this file.
    static func helperPath() -> String? {
        if let path = ProcessInfo.processInfo.environment["TALLY_FOCUS_CHECK"], !path.isEmpty { return path }
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<4 {
            folder = folder.deletingLastPathComponent()
            for name in ["e2e/focus_check.py", "check_focus.py"] {
                let candidate = folder.appendingPathComponent(name).path
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    private func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    // MARK: - Fixtures

    private static let zone = TimeZoneRules(identifier: "America/New_York")!

    /// A charge on 2026-11-20 in New York (the billing month starts 2026-11-01 at 04:00Z, EDT; ends 2026-12-01 05:00Z).
    private func charge(
        day: CivilDate = CivilDate(year: 2026, month: 11, day: 20), provider: String = "openai",
        projectID: String = "proj_1",
        projectName: String = "Main", model: String = "gpt-4o", priceID: String? = "openai:gpt-4o:2024-08-06",
        tokenClass: String = "input", quantity: Int64 = 1_000, price: String? = "2.50",
        cost: USD = USD(nanos: 2_500_000),
        tags: [(String, String)] = [("project", "Main")], billingAccountID: String? = nil,
        billingAccountName: String? = nil
    ) -> FocusCharge {
        let zone = Self.zone
        let month = CivilDate(year: day.year, month: day.month, day: 1)
        let next =
            month.month == 12
            ? CivilDate(year: month.year + 1, month: 1, day: 1)
            : CivilDate(year: month.year, month: month.month + 1, day: 1)
        let priceFrom = priceID.flatMap { id in id.split(separator: ":").last.flatMap { CivilDate(parsing: $0) } }
        return FocusCharge(
            chargePeriod: TimeRange(
                from: zone.startOfDay(day), to: zone.startOfDay(CivilDate(daysSinceEpoch: day.daysSinceEpoch + 1))),
            billingPeriod: TimeRange(from: zone.startOfDay(month), to: zone.startOfDay(next)),
            provider: provider, projectID: projectID, projectName: projectName, model: model, priceID: priceID,
            tokenClass: tokenClass, quantity: quantity, listUnitPricePerMillion: price, cost: cost, tags: tags,
            priceEntryFrom: priceFrom, billingAccountID: billingAccountID, billingAccountName: billingAccountName)
    }

    /// ~50 charges like an export's: three providers and another, awkward project names, every token class, requests,
    /// unpriced rows, days across a DST change and a month end, costs split exactly from a stored total.
    private func sampleCharges() -> [FocusCharge] {
        let projects: [(String, String)] = [
            ("proj_abc", "Main"), ("proj_q", "Search, \"beta\""), ("wrk_7", "=SUM(A1:A9)"), ("42", "-ops"),
            ("proj_u", "Tōkyō 東京 🚀"), ("proj_nl", "two\r\nlines"),
        ]
        let models: [(String, String, String?, String)] = [
            ("openai", "gpt-4o", "openai:gpt-4o:2024-08-06", "2.50"),
            ("anthropic", "claude-sonnet-4-5", "anthropic:claude-sonnet-4-5:2025-09-29", "3"),
            ("google", "gemini-2.5-flash", "google:gemini-2.5-flash:2025-06-17", "0.30"),
            ("google", "gemini-4-neon", nil, ""),
            ("mistral", "mistral-large-latest", "org:mistral-large:2026-01-01", "2.000000001"),
        ]
        let days = [
            CivilDate(year: 2026, month: 10, day: 31), CivilDate(year: 2026, month: 11, day: 1),
            CivilDate(year: 2026, month: 11, day: 20), CivilDate(year: 2026, month: 12, day: 31),
        ]
        var rng = SplitMix64(seed: 50)
        var out: [FocusCharge] = []
        var i = 0
        while out.count < 54 {
            let (provider, model, priceID, price) = models[i % models.count]
            let (projectID, projectName) = projects[i % projects.count]
            let day = days[i % days.count]
            let classes =
                i % 7 == 0
                ? ["request"]
                : ["input", "output", "cached_input", "cache_write_5m", "reasoning"].shuffled(using: &rng).prefix(2).map
                { $0 }
            let quantities = classes.map {
                $0 == "request" ? Int64(rng.next() % 20) + 1 : Int64(rng.next() % 5_000_000)
            }
            // Tokens are priced per million, requests each.
            let perRequest = classes == ["request"]
            let unitPrice = perRequest ? "0.01" : price
            let unitNanos = priceID == nil ? Int64(0) : (USD(decimal: unitPrice)?.nanos ?? 0)
            let computed = quantities.map { USD(nanos: perRequest ? $0 * unitNanos : $0 * unitNanos / 1_000_000) }
            // The stored cost differs by a few nanos from the re-priced sum: per-event rounding.
            let stored =
                priceID == nil ? USD.zero : USD(nanos: computed.reduce(0) { $0 + $1.nanos } + Int64(rng.next() % 7))
            let parts = FocusCSV.allocate(stored, weights: computed)
            for (k, tokenClass) in classes.enumerated() {
                out.append(
                    charge(
                        day: day, provider: provider, projectID: projectID, projectName: projectName, model: model,
                        priceID: priceID, tokenClass: tokenClass, quantity: quantities[k],
                        price: priceID == nil ? nil : unitPrice,
                        cost: parts[k],
                        tags: i % 3 == 0
                            ? [] : [("project", projectName), ("environment", i % 2 == 0 ? "prod" : "dev")]))
            }
            i += 1
        }
        return out
    }

    // MARK: - A small RFC 4180 reader

    /// The cells of one data line by column name.
    private func cells(_ line: String) throws -> [String: String] {
        let rows = parseCSV(line)
        let row = try XCTUnwrap(rows.count == 1 ? rows.first : nil, "one record expected: \(line.debugDescription)")
        XCTAssertEqual(row.count, FocusCSV.columns.count)
        return Dictionary(uniqueKeysWithValues: zip(FocusCSV.columns, row))
    }

    private func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = String.UnicodeScalarView()
        var quoted = false
        var scalars = Array(text.unicodeScalars)[...]
        while let s = scalars.popFirst() {
            if quoted {
                if s == "\"" {
                    if scalars.first == "\"" {
                        field.append("\""); scalars = scalars.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(s)
                }
            } else if s == "\"" {
                quoted = true
            } else if s == "," {
                row.append(String(field)); field = .init()
            } else if s == "\r" && scalars.first == "\n" {
                scalars = scalars.dropFirst()
                row.append(String(field)); field = .init()
                rows.append(row); row = []
            } else {
                field.append(s)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(String(field)); rows.append(row) }
        return rows
    }
}

/// A small seeded generator (SplitMix64), so the property tests are the same on every run.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
