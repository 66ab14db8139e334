import Testing

@testable import TallyPDF

/// Widths come from the fonts' advances: DejaVu Sans "H" 1540, "e" 1260, "l" 569, "o" 1253, space 651, "W" 2025,
/// "…" 2048, of 2048 units per em.
@Suite struct TextLayoutTests {
    let chain: FontChain

    init() throws { chain = FontChain(try Fixtures.dejaVu()) }

    @Test func measuresFromAdvanceWidths() {
        #expect(abs(chain.width(of: "Hello", size: 10) - Double(1540 + 1260 + 569 + 569 + 1253) / 2048 * 10) < 1e-9)
        #expect(abs(chain.width(of: "W W", size: 2048) - Double(2025 + 651 + 2025)) < 1e-9)
        #expect(chain.width(of: "", size: 12) == 0)
        // Controls draw nothing; tab and line feed are drawn as spaces.
        #expect(chain.width(of: "a\u{0}\u{7}b", size: 10) == chain.width(of: "ab", size: 10))
        #expect(chain.width(of: "a\tb", size: 10) == chain.width(of: "a b", size: 10))
        // A variation selector joins the heart before it and adds no width.
        #expect(chain.width(of: "\u{2764}\u{FE0F}", size: 10) == chain.width(of: "\u{2764}", size: 10))
    }

    @Test func measuresFallbackCharactersWithTheirOwnFont() throws {
        let japanese = try Fixtures.font(Fixtures.japanesePath)
        let both = FontChain([try Fixtures.dejaVu(), japanese])
        // あ is 2048/2048 em in IPAGothic; "A" stays with DejaVu (1401).
        #expect(abs(both.width(of: "A\u{3042}", size: 10) - (1401.0 / 2048 * 10 + 10)) < 1e-9)
    }

    @Test func truncatesWithAnEllipsisToFit() {
        let size = 10.0
        let room = chain.width(of: "Hello", size: size) + chain.width(of: "…", size: size)
        #expect(chain.truncated("Hello world", toWidth: room, size: size) == "Hello…")
        #expect(chain.truncated("Hello world", toWidth: room - 0.01, size: size) == "Hell…")
        #expect(chain.truncated("Hello", toWidth: room, size: size) == "Hello")  // fits: unchanged
        // The space before the cut is dropped rather than left before the ellipsis.
        let spaced = chain.width(of: "Hello ", size: size) + chain.width(of: "…", size: size)
        #expect(chain.truncated("Hello world", toWidth: spaced, size: size) == "Hello…")
        #expect(chain.truncated("Hello", toWidth: 1, size: size) == "")  // not even "…" fits
        for width in stride(from: 8.0, through: 120, by: 7) {
            let cut = chain.truncated(
                "claude-sonnet-4-5-20250929 \u{1F600} long model name", toWidth: width, size: size)
            #expect(chain.width(of: cut, size: size) <= width)
        }
    }

    @Test func wrapsAtSpacesAndInsideOverlongWords() {
        let size = 10.0
        let text = "Prices are per million tokens from the catalog revision 2026-01-12"
        let width = 100.0
        let lines = chain.wrapped(text, toWidth: width, size: size)
        #expect(lines.count > 2)
        #expect(lines.allSatisfy { chain.width(of: $0, size: size) <= width })
        #expect(lines.joined(separator: " ") == text)
        let long = String(repeating: "x", count: 80)
        let cut = chain.wrapped(long, toWidth: 50, size: size)
        #expect(cut.count > 1 && cut.joined() == long && cut.allSatisfy { chain.width(of: $0, size: size) <= 50 })
        #expect(chain.wrapped("one\ntwo", toWidth: 500, size: size) == ["one", "two"])
        #expect(chain.wrapped("", toWidth: 500, size: size) == [""])
    }
}
