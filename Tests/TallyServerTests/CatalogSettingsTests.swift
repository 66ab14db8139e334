import TallyCore
import Testing

@testable import TallyServer
@testable import TallyServices

/// TALLY_PRICES_URL and TALLY_PRICES_REFRESH: read once, a wrong value named without echoing a URL (it may carry a
/// credential); and the URL as logs and messages may show it.
@Suite struct CatalogSettingsTests {
    @Test func pricesURLAndRefreshAreReadAndChecked() throws {
        let config = try AppConfig.load(
            environment: ["TALLY_PRICES_URL": "https://prices.example.com/catalog.json", "TALLY_PRICES_REFRESH": "2s"],
            flags: [:])
        #expect(config.pricesURL == "https://prices.example.com/catalog.json" && config.pricesRefreshSeconds == 2)
        let defaults = try AppConfig.load(environment: [:], flags: [:])
        #expect(defaults.pricesURL == nil && defaults.pricesRefreshSeconds == 15)
        #expect {
            try AppConfig.load(
                environment: [
                    "TALLY_PRICES_URL": "ftp://user:hunter2@example.com/c.json", "TALLY_PRICES_REFRESH": "2h",
                ],
                flags: [:])
        } throws: { error in
            guard let problem = error as? AppConfig.Problem else { return false }
            return problem.lines == [
                "TALLY_PRICES_URL must be an http(s) URL of a catalog file in Tally's format",
                #"TALLY_PRICES_REFRESH must be a duration from 1s to 1h such as 15s, 1m or 60 (got "2h")"#,
            ] && !problem.description.contains("hunter2")
        }
    }

    @Test func aURLIsShownWithoutCredentialsOrQuery() {
        #expect(
            CatalogSource.redacted("https://user:hunter2@prices.example.com:8443/v1/catalog.json?token=abc#x")
                == "https://prices.example.com:8443/v1/catalog.json")
        #expect(CatalogSource.redacted("not a url") == "(an unreadable URL)")
        #expect(CatalogSource.validURL("http://127.0.0.1:8080/c.json") && !CatalogSource.validURL("https:///c.json"))
    }
}
