/// Runs a `RegexProgram` as a Pike VM: every NFA thread advances in lock-step over the text, one scalar at a time,
/// with at most one thread per instruction, so the work is O(text × program) and never backtracks. Threads are kept
/// in priority order, which gives leftmost-first (PCRE-like) matches.
struct PikeMachine {
    private let program: RegexProgram
    private let scalars: [Unicode.Scalar]
    private var current = ThreadList()
    private var next = ThreadList()
    /// The generation in which each instruction was last added, so a list needs no clearing between positions.
    private var addedIn: [Int]
    private var generation = 0
    private var stack: [Int] = []
    private(set) var outOfBudget = false

    init(program: RegexProgram, scalars: [Unicode.Scalar]) {
        self.program = program
        self.scalars = scalars
        addedIn = [Int](repeating: -1, count: program.instructions.count)
    }

    /// Every match, leftmost-first and not overlapping, as scalar ranges; stops early when the budget runs out.
    mutating func allMatches(budget: inout ScanBudget) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var origin = 0
        while origin < scalars.count, let match = firstMatch(from: origin, budget: &budget) {
            found.append(match)
            origin = match.upperBound  // never empty: patterns that can match nothing are refused
        }
        return found
    }

    /// The leftmost-first match starting at or after `origin`, or nil (none, or the budget ran out first: then a
    /// match already found is still returned, though a longer one may have been cut short).
    private mutating func firstMatch(from origin: Int, budget: inout ScanBudget) -> Range<Int>? {
        current.removeAll()
        var matched: Range<Int>?
        var position = origin
        generation += 1
        while !outOfBudget {
            if matched == nil {
                if current.isEmpty {
                    // No thread alive: jump to the next scalar a match could begin with.
                    while position < scalars.count, !program.canStart(with: scalars[position]) { position += 1 }
                    if position == scalars.count { return nil }
                    generation += 1
                }
                add(0, start: position, at: position, toNext: false, budget: &budget)
            }
            if current.isEmpty {
                if matched != nil || position >= scalars.count { break }
                position += 1
                continue
            }
            generation += 1
            next.removeAll()
            for index in 0..<current.count {
                guard budget.take() else {
                    outOfBudget = true
                    break
                }
                let thread = current[index]
                let instruction = program.instructions[thread.pc]
                if case .match = instruction {
                    matched = thread.start..<position
                    break  // threads after this one have lower priority: drop them
                }
                if position < scalars.count, program.accepts(instruction, scalars[position]) {
                    add(thread.pc + 1, start: thread.start, at: position + 1, toNext: true, budget: &budget)
                }
            }
            swap(&current, &next)
            if position >= scalars.count { break }
            position += 1
        }
        return matched
    }

    /// Adds the thread at `pc` and, through splits, jumps and passing assertions, every thread it leads to, in
    /// priority order (a depth-first walk with the preferred branch first).
    /// `toNext`: into the list for the next position (while stepping) rather than the current one (a new start).
    private mutating func add(_ pc: Int, start: Int, at position: Int, toNext: Bool, budget: inout ScanBudget) {
        stack.append(pc)
        while let pc = stack.popLast() {
            guard addedIn[pc] != generation else { continue }
            addedIn[pc] = generation
            guard budget.take() else {
                outOfBudget = true
                stack.removeAll()
                return
            }
            switch program.instructions[pc] {
            case .jump(let target):
                stack.append(target)
            case .split(let preferred, let other):
                stack.append(other)
                stack.append(preferred)
            case .assertion(let assertion):
                if holds(assertion, at: position) { stack.append(pc + 1) }
            default:
                if toNext { next.append(pc: pc, start: start) } else { current.append(pc: pc, start: start) }
            }
        }
    }

    private func holds(_ assertion: RegexAssertion, at position: Int) -> Bool {
        switch assertion {
        case .textStart: return position == 0
        case .textEnd: return position == scalars.count
        case .wordBoundary, .notWordBoundary:
            let before = position > 0 && ScalarShorthand.isWord(scalars[position - 1])
            let after = position < scalars.count && ScalarShorthand.isWord(scalars[position])
            return (before != after) == (assertion == .wordBoundary)
        }
    }
}

/// Threads (instruction and match start) in priority order.
private struct ThreadList {
    private var pcs: [Int] = []
    private var starts: [Int] = []

    var count: Int { pcs.count }
    var isEmpty: Bool { pcs.isEmpty }

    subscript(index: Int) -> (pc: Int, start: Int) { (pcs[index], starts[index]) }

    mutating func append(pc: Int, start: Int) {
        pcs.append(pc)
        starts.append(start)
    }

    mutating func removeAll() {
        pcs.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
    }
}
