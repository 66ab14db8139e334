import TallyCore
import XCTest

/// One cell per value whatever it holds: a CRLF inside a value (one `Character` in Swift) is quoted like a bare LF.
final class CSVTests: XCTestCase {
    func testLineBreaksOfEveryKindAreQuoted() {
        XCTAssertEqual(CSV.cell("a\r\nb"), "\"a\r\nb\"")
        XCTAssertEqual(CSV.cell("a\nb"), "\"a\nb\"")
        XCTAssertEqual(CSV.cell("a\rb"), "\"a\rb\"")
        XCTAssertEqual(CSV.cell("plain"), "plain")
    }

    func testFormulasAreNeutralisedAndQuotesDoubled() {
        XCTAssertEqual(CSV.cell("=SUM(A1)"), "'=SUM(A1)")
        XCTAssertEqual(CSV.cell("\r\n=1"), "\"'\r\n=1\"")
        XCTAssertEqual(CSV.cell("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"")
    }
}
