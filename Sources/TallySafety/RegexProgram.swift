/// One instruction of the compiled NFA.
enum RegexInstruction {
    case scalar(Unicode.Scalar)
    case anyExceptNewline
    case set(Int)
    /// Try the first target before the second (the priority leftmost-first matching follows).
    case split(Int, Int)
    case jump(Int)
    case assertion(RegexAssertion)
    case match
}

/// A compiled pattern: the NFA's instructions (at most `RegexLimits.instructions`) and what it needs to run them.
struct RegexProgram: Sendable {
    private(set) var instructions: [RegexInstruction] = []
    private(set) var sets: [ScalarSet] = []
    let caseInsensitive: Bool
    /// Which ASCII scalars can begin a match, and whether any non-ASCII one can: lets the search skip ahead while no
    /// thread is alive instead of starting one at every position.
    private(set) var asciiStarts = [Bool](repeating: false, count: 128)
    private(set) var nonASCIIStarts = false

    init(_ node: RegexNode, caseInsensitive: Bool) throws(RegexProblem) {
        self.caseInsensitive = caseInsensitive
        try compile(node)
        try emit(.match)
        findStarts()
    }

    /// Whether a consuming instruction accepts `scalar`. Case-insensitive programs compare simple lowercase
    /// mappings for literals and try both cases against classes.
    func accepts(_ instruction: RegexInstruction, _ scalar: Unicode.Scalar) -> Bool {
        switch instruction {
        case .scalar(let expected):
            return scalar == expected || (caseInsensitive && CaseMapping.lower(scalar) == expected)
        case .anyExceptNewline:
            return scalar != "\n"
        case .set(let index):
            let set = sets[index]
            if set.contains(scalar) { return true }
            guard caseInsensitive else { return false }
            return set.contains(CaseMapping.lower(scalar)) || set.contains(CaseMapping.upper(scalar))
        default:
            return false
        }
    }

    func canStart(with scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII ? asciiStarts[Int(scalar.value)] : nonASCIIStarts
    }

    private mutating func emit(_ instruction: RegexInstruction) throws(RegexProblem) {
        guard instructions.count < RegexLimits.instructions else {
            throw RegexProblem("the pattern compiles to more than \(RegexLimits.instructions) steps")
        }
        instructions.append(instruction)
    }

    private mutating func compile(_ node: RegexNode) throws(RegexProblem) {
        switch node {
        case .scalar(let scalar):
            try emit(.scalar(caseInsensitive ? CaseMapping.lower(scalar) : scalar))
        case .anyExceptNewline:
            try emit(.anyExceptNewline)
        case .set(let set):
            sets.append(set)
            try emit(.set(sets.count - 1))
        case .assertion(let assertion):
            try emit(.assertion(assertion))
        case .concatenation(let nodes):
            for node in nodes { try compile(node) }
        case .alternation(let branches):
            try compileAlternation(branches)
        case .repetition(let node, let min, let max):
            try compileRepetition(node, min: min, max: max)
        }
    }

    private mutating func compileAlternation(_ branches: [RegexNode]) throws(RegexProblem) {
        var jumpsToEnd: [Int] = []
        for (index, branch) in branches.enumerated() {
            let isLast = index == branches.count - 1
            let split = instructions.count
            if !isLast { try emit(.split(split + 1, -1)) }
            try compile(branch)
            if !isLast {
                jumpsToEnd.append(instructions.count)
                try emit(.jump(-1))
                instructions[split] = .split(split + 1, instructions.count)
            }
        }
        for jump in jumpsToEnd { instructions[jump] = .jump(instructions.count) }
    }

    private mutating func compileRepetition(_ node: RegexNode, min: Int, max: Int?) throws(RegexProblem) {
        for _ in 0..<min { try compile(node) }
        guard let max else {
            // x*: loop back to a split that prefers another round.
            let split = instructions.count
            try emit(.split(split + 1, -1))
            try compile(node)
            try emit(.jump(split))
            instructions[split] = .split(split + 1, instructions.count)
            return
        }
        // x{0,k}: k nested optional copies, each able to stop the whole repetition.
        var exits: [Int] = []
        for _ in min..<max {
            exits.append(instructions.count)
            try emit(.split(instructions.count + 1, -1))
            try compile(node)
        }
        for exit in exits { instructions[exit] = .split(exit + 1, instructions.count) }
    }

    private mutating func findStarts() {
        var pending = [0]
        var seen = Set<Int>()
        while let pc = pending.popLast() {
            guard seen.insert(pc).inserted else { continue }
            let instruction = instructions[pc]
            switch instruction {
            case .split(let first, let second): pending += [first, second]
            case .jump(let target): pending.append(target)
            case .assertion: pending.append(pc + 1)  // over-approximates: the test may fail, never wrongly skip
            case .match: nonASCIIStarts = true
            case .scalar, .anyExceptNewline, .set:
                // Under (?i) a non-ASCII scalar may lowercase to an ASCII one (the Kelvin sign to "k").
                if caseInsensitive || !(instruction.scalar?.isASCII ?? false) { nonASCIIStarts = true }
                for value in 0..<128 where accepts(instruction, Unicode.Scalar(UInt8(value))) {
                    asciiStarts[value] = true
                }
            }
        }
    }
}

extension RegexInstruction {
    fileprivate var scalar: Unicode.Scalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }
}

/// Simple (one scalar to one scalar) case mappings, with an ASCII fast path.
enum CaseMapping {
    static func lower(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.isASCII {
            return scalar.value >= 0x41 && scalar.value <= 0x5A ? Unicode.Scalar(UInt8(scalar.value + 0x20)) : scalar
        }
        guard scalar.properties.changesWhenLowercased else { return scalar }
        let mapped = scalar.properties.lowercaseMapping.unicodeScalars
        return mapped.count == 1 ? mapped.first! : scalar
    }

    static func upper(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.isASCII {
            return scalar.value >= 0x61 && scalar.value <= 0x7A ? Unicode.Scalar(UInt8(scalar.value - 0x20)) : scalar
        }
        guard scalar.properties.changesWhenUppercased else { return scalar }
        let mapped = scalar.properties.uppercaseMapping.unicodeScalars
        return mapped.count == 1 ? mapped.first! : scalar
    }
}
