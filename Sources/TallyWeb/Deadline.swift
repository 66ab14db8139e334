import TallyCore

/// Runs a page's queries with a deadline, so a slow database gives a message instead of a hanging page.
package func withDeadline<T: Sendable>(seconds: Int, _ work: @escaping @Sendable () async throws -> T) async throws -> T
{
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TallyError.unavailable("the query took longer than \(seconds) seconds")
        }
        return value
    }
}
