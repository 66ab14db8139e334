import TallySafety
import Testing

@Suite struct RegexSyntaxTests {
    @Test func literalsAndEscapes() throws {
        #expect(try found("a\\.b", in: "axb a.b") == ["a.b"])
        #expect(try found("C:\\\\dir\\/x", in: "path C:\\dir/x") == ["C:\\dir/x"])
        #expect(try found("a\\tb\\nc", in: "a\tb\nc") == ["a\tb\nc"])
        #expect(try found("\\x41\\x{1F600}", in: "A😀") == ["A😀"])
        #expect(try found("日本", in: "こんにちは日本語") == ["日本"])
    }

    @Test func dotAndClasses() throws {
        #expect(try found("a.c", in: "abc a\nc a😀c") == ["abc", "a😀c"])
        #expect(try found("[a-c0-9_]+", in: "xxab_9zz") == ["ab_9"])
        #expect(try found("[^a-z ]+", in: "abc DEF ghi") == ["DEF"])
        #expect(try found("[]a]+", in: "x]a]x") == ["]a]"])
        #expect(try found("[a-]+", in: "b-a-b") == ["-a-"])
        #expect(try found("[\\d.]+", in: "v1.25 ok") == ["1.25"])
    }

    @Test func shorthands() throws {
        #expect(try found("\\d+", in: "ab 123 c4") == ["123", "4"])
        #expect(try found("\\D+", in: "12ab34") == ["ab"])
        #expect(try found("\\w+", in: "héllo, wörld_1!") == ["héllo", "wörld_1"])
        #expect(try found("\\W+", in: "ab, cd") == [", "])
        #expect(try found("\\s+", in: "a \t\nb") == [" \t\n"])
        #expect(try found("\\S+", in: "  ab  ") == ["ab"])
        #expect(try found("[\\s\\d]+", in: "x1 2y") == ["1 2"])
        #expect(try found("[^\\W_]+", in: "a_b") == ["a", "b"])
    }

    @Test func anchorsAndWordBoundaries() throws {
        #expect(try found("^ab", in: "ab ab") == ["ab"])
        #expect(try found("ab$", in: "ab ab") == ["ab"])
        #expect(try found("^ab$", in: "ab\nab") == [])
        #expect(try found("\\bcat\\b", in: "cat concat cats cat.") == ["cat", "cat"])
        #expect(try found("\\Bcat", in: "cat concat") == ["cat"])
    }

    @Test func groupsAndAlternation() throws {
        #expect(try found("(ab)+", in: "xababx") == ["abab"])
        #expect(try found("(?:foo|bar)baz", in: "foobaz barbaz bazbaz") == ["foobaz", "barbaz"])
        #expect(try found("cat|category", in: "category") == ["cat"])  // leftmost-first, like PCRE
        #expect(try found("category|cat", in: "category") == ["category"])
        #expect(try found("a(b|)c", in: "ac abc") == ["ac", "abc"])
    }

    @Test func quantifiers() throws {
        #expect(try found("ab*c", in: "ac abc abbbc") == ["ac", "abc", "abbbc"])
        #expect(try found("ab+c", in: "ac abc") == ["abc"])
        #expect(try found("colou?r", in: "color colour") == ["color", "colour"])
        #expect(try found("\\d{3}", in: "12 12345") == ["123"])
        #expect(try found("\\d{2,}", in: "1 12 12345") == ["12", "12345"])
        #expect(try found("\\d{2,3}", in: "1 12 12345") == ["12", "123", "45"])
        #expect(try found("a{0,2}b", in: "aaab") == ["aab"])
        #expect(try found("a+?b", in: "aaab") == ["aaab"])  // lazy read as greedy
        #expect(try found("x{,2}", in: "x{,2}") == ["x{,2}"])  // not a count: literal, as in PCRE
    }

    @Test func caseInsensitiveFlag() throws {
        #expect(try found("(?i)secret", in: "SECRET Secret sEcReT") == ["SECRET", "Secret", "sEcReT"])
        #expect(try found("(?i)[a-c]+", in: "xABCx") == ["ABC"])
        #expect(try found("(?i)ÉTÉ", in: "un été") == ["été"])
        #expect(try found("secret", in: "SECRET") == [])
    }

    @Test func matchesDoNotOverlap() throws {
        #expect(try found("aa", in: "aaaaa") == ["aa", "aa"])
        #expect(try found("\\d+-\\d+", in: "1-2-3-4") == ["1-2", "3-4"])
    }
}
