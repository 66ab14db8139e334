import TallyCore

/// How long the record of what the guard blocked is kept: the janitor deletes older hits.
package enum PolicyHitRetention {
    package static let days: Int64 = 90

    /// Deletes policy hits older than the retention at `now`: how many.
    package static func deleteOld(_ store: some PolicyStore, now: Instant) async throws -> Int {
        try await store.deletePolicyHits(before: now.adding(seconds: -days * 86_400))
    }
}
