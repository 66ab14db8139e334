import TallySafety
import Testing

@Suite struct RegexBudgetTests {
    static let hostile = String(repeating: "a", count: 30_000) + "!"

    /// The patterns that make backtracking engines take exponential time finish here: each either reports its
    /// (correct) matches or stops with the budget exhausted.
    @Test(arguments: ["(a+)+$", "(a|a)*b", "(.*a){20}", "(a*)*b", "(a|aa)+$", "(\\w+\\s?)+$"])
    func catastrophicPatternsFinish(pattern: String) throws {
        let regex = try BoundedRegex(pattern)
        var budget = ScanBudget(steps: 5_000_000)
        let matches = regex.matches(in: Self.hostile, budget: &budget)
        #expect(budget.remaining >= 0)
        if !budget.exhausted {
            let expected: [String] = pattern == "(.*a){20}" ? [String(repeating: "a", count: 30_000)] : []
            #expect(matches.map { String(Self.hostile[$0]) } == expected)
        }
    }

    @Test func repeatedDotStarFindsTheWholeRunWithEnoughBudget() throws {
        let text = String(repeating: "a", count: 300) + "!"
        var budget = ScanBudget()
        let matches = try BoundedRegex("(.*a){20}").matches(in: text, budget: &budget)
        #expect(!budget.exhausted)
        #expect(matches.map { String(text[$0]) } == [String(repeating: "a", count: 300)])
    }

    @Test func respectsASmallBudget() throws {
        let regex = try BoundedRegex("(a|a)*b")
        var budget = ScanBudget(steps: 1_000)
        let matches = regex.matches(in: Self.hostile, budget: &budget)
        #expect(matches.isEmpty)
        #expect(budget.remaining == 0)
        #expect(budget.exhausted)
    }

    @Test func anEmptyBudgetRunsNothing() throws {
        var budget = ScanBudget(steps: 0)
        let matches = try BoundedRegex("b").matches(in: "abc", budget: &budget)
        #expect(matches.isEmpty)
        #expect(budget.exhausted)
        var negative = ScanBudget(steps: -5)
        #expect(negative.remaining == 0)
        _ = try BoundedRegex("b").matches(in: "abc", budget: &negative)
        #expect(negative.remaining == 0)
    }

    @Test func matchesFoundBeforeTheBudgetRanOutAreKept() throws {
        let text = String(repeating: "x1 ", count: 2_000)
        var budget = ScanBudget(steps: 300)
        let matches = try BoundedRegex("x\\d").matches(in: text, budget: &budget)
        #expect(budget.exhausted)
        #expect(matches.count > 10)
        #expect(matches.count < 2_000)
        #expect(matches.allSatisfy { text[$0] == "x1" })
    }

    @Test func aPlainScanUsesStepsAndLeavesTheRest() throws {
        var budget = ScanBudget(steps: 10_000)
        let matches = try BoundedRegex("b+").matches(in: "aaabbbccc", budget: &budget)
        #expect(matches.count == 1)
        #expect(!budget.exhausted)
        #expect(budget.remaining < 10_000)
        #expect(budget.remaining > 9_900)
    }
}
