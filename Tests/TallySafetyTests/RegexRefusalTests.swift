import TallySafety
import Testing

@Suite struct RegexRefusalTests {
    @Test func refusesWhatCannotRunLinearly() {
        #expect(problem("(a)\\1") == "backreferences (\\1) are not supported, at 3")
        #expect(problem("(?<n>a)\\k<n>") == "unsupported group syntax (? at 0; use (?: ) for a group")
        #expect(problem("a(?=b)") == "lookaround (?=, (?!, (?<=, (?<!) is not supported, at 1")
        #expect(problem("a(?!b)") == "lookaround (?=, (?!, (?<=, (?<!) is not supported, at 1")
        #expect(problem("(?<=a)b") == "lookaround (?=, (?!, (?<=, (?<!) is not supported, at 0")
        #expect(problem("(?<!a)b") == "lookaround (?=, (?!, (?<=, (?<!) is not supported, at 0")
        #expect(problem("(?>ab)c") == "atomic groups (?>…) are not supported, at 0")
        #expect(problem("a*+b") == "possessive quantifiers (like a*+) are not supported, at 2")
        #expect(problem("a{2}+") == "possessive quantifiers (like a*+) are not supported, at 4")
    }

    @Test func refusesMalformedPatterns() {
        #expect(problem("") == "the pattern is empty")
        #expect(problem("abc(def") == "unbalanced parenthesis at 3")
        #expect(problem("abc)def") == "unbalanced parenthesis at 3")
        #expect(problem("\\q") == "unknown escape \\q at 0")
        #expect(problem("ab\\") == "the pattern ends with a lone backslash")
        #expect(problem("[abc") == "unterminated character class at 0")
        #expect(problem("[z-a]") == "invalid class range at 1")
        #expect(problem("*a") == "nothing to repeat at 0")
        #expect(problem("a**") == "a quantifier cannot follow another quantifier, at 2")
        #expect(problem("ab(?i)c") == "the (?i) flag is only supported at the very start of the pattern, at 2")
        #expect(problem("[[:alpha:]]") != nil)
    }

    @Test func refusesCostlyPatterns() {
        #expect(problem("a{1,1001}") == "the repetition count at 1 is over 1000")
        #expect(problem("a{1001}") == "the repetition count at 1 is over 1000")
        #expect(problem("a{5,2}") == "the repetition {5,2} at 1 has min over max")
        #expect(problem(String(repeating: "a", count: 1001)) == "the pattern is longer than 1000 characters")
        #expect(problem("(a{1000}){10}") == "the pattern compiles to more than 5000 steps")
        #expect(problem("((a{100}){100}){100}") == "the pattern compiles to more than 5000 steps")
        #expect(problem(String(repeating: "a", count: 1000)) == nil)
    }

    @Test func refusesPatternsThatMatchNothing() {
        let message = "the pattern can match the empty string, so it would match everywhere"
        for pattern in ["a*", "(a|b)?", "^", "\\b", "(?:)", "x{0,3}", "a|", "^$", "(a*)*"] {
            #expect(problem(pattern) == message, "\(pattern)")
        }
        #expect(problem("a*b") == nil)
    }

    @Test func keepsThePattern() throws {
        #expect(try BoundedRegex("(?i)a+").pattern == "(?i)a+")
    }
}
